"""Feast's SQLite online store with a fast, newest-wins write path (one transaction per batch, WAL).
Design note and settings: docs/explanation/features.md (SQLite)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import chain, repeat
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast import Entity
from feast.feature_view import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores import sqlite as feast_sqlite
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc
from pydantic import Field

from datacentric.features.online_stores import SQLITE_STORE, encoding
from datacentric.features.online_stores._arrow import feature_columns, record_batch, to_protos

# Entities encoded and handed to executemany at a time: bounds the Python objects alive at once.
WRITE_SLICE = 10_000
COLUMNS = ("entity_key", "feature_name", "value", "value_text", "event_ts", "created_ts")
# Rows per INSERT statement: one statement of many VALUES rows costs SQLite less per row than as many
# one-row statements (bench/README.md, materialize.py); 50 rows x 6 columns stays under the 999 bound
# parameters of SQLite builds older than 3.32. Rows are still applied one after another, in order.
ROWS_PER_STATEMENT = 50


class SqliteOnlineStoreConfig(feast_sqlite.SqliteOnlineStoreConfig):
    """Feast's SQLite store settings plus the writing connection's pragmas."""

    # Feast picks the store class by `type`; its base config's Literal admits only Feast's own names.
    type: Literal["datacentric.features.online_stores.sqlite.SqliteOnlineStore"] = SQLITE_STORE  # type: ignore[assignment]
    journal_mode: Literal["wal", "delete"] = "wal"
    synchronous: Literal["off", "normal", "full"] = "normal"
    cache_mb: int = Field(default=64, ge=1)


class SqliteOnlineStore(feast_sqlite.SqliteOnlineStore):
    """Feast's SQLite store; writes are batched, ordered and keep the newest value per entity."""

    def _get_conn(self, config: RepoConfig) -> sqlite3.Connection:
        if self._conn:
            return self._conn
        conn: sqlite3.Connection = super()._get_conn(config)
        settings = config.online_store
        conn.execute(f"PRAGMA journal_mode={getattr(settings, 'journal_mode', 'wal')}")
        conn.execute(f"PRAGMA synchronous={getattr(settings, 'synchronous', 'normal')}")
        conn.execute(f"PRAGMA cache_size=-{int(getattr(settings, 'cache_mb', 64)) * 1024}")
        return conn

    # -- writes --------------------------------------------------------------------------------

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Feast's write interface (used by `feast materialize`, push and write_to_online_store)."""
        if _needs_feast_layout(config):
            super().online_write_batch(config, table, data, progress)
            return
        version = config.entity_key_serialization_version
        rows: list[tuple] = []
        for entity_key, values, timestamp, created in data:
            key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
            event = to_naive_utc(timestamp)  # Feast's sqlite3 adapter stores it as int seconds
            created = to_naive_utc(created) if created is not None else None
            for name, value in values.items():
                rows.append((key, name, value.SerializeToString(), extract_text_and_num(value, False)[0],
                             event, created))
        rows.sort(key=lambda row: (row[0], row[1]))
        self._upsert(config, table, [rows])
        if progress:
            progress(len(data))

    def write_arrow(self, config: RepoConfig, table: FeatureView, batch: pa.Table | pa.RecordBatch) -> int:
        """Write entity rows given as Arrow columns (join keys, the timestamp field, the features),
        at most one row per entity, in one transaction. Returns how many entities were written (the
        others were older than the stored values)."""
        batch = record_batch(batch)
        if batch.num_rows == 0:
            return 0
        keys, _, value_types, timestamp = feature_columns(table)
        features = [(f.name, f.dtype.to_value_type().value) for f in table.features]
        encoded_keys = encoding.entity_keys([batch.column(k) for k in keys], keys, value_types)
        covered = all(encoding.supported(batch.schema.field(name).type, kind) for name, kind in features)
        if encoded_keys is None or not covered or _needs_feast_layout(config):
            return self._write_via_protos(config, table, batch)
        order = pc.sort_indices(encoded_keys)
        batch, encoded_keys = batch.take(order), encoded_keys.take(order)
        slices = (
            _rows(batch.slice(lo, WRITE_SLICE), encoded_keys.slice(lo, WRITE_SLICE), features, timestamp)
            for lo in range(0, batch.num_rows, WRITE_SLICE)
        )
        return self._upsert(config, table, slices) // max(len(features), 1)

    def _write_via_protos(self, config: RepoConfig, table: FeatureView, batch: pa.RecordBatch) -> int:
        data = to_protos(batch, table)
        before = self._get_conn(config).total_changes
        self.online_write_batch(config, table, data, None)
        return (self._get_conn(config).total_changes - before) // max(len(table.features), 1)

    def _upsert(self, config: RepoConfig, table: FeatureView, batches: Iterable[Iterable[tuple]]) -> int:
        """Upsert batches of rows in one transaction; returns the number of rows inserted or replaced."""
        conn = self._get_conn(config)
        name = feast_sqlite._quote_id(
            feast_sqlite._table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
        # A stored row is replaced only by a row at least as new. Feast stores event_ts as integer
        # seconds; anything else in the column (a foreign writer) is replaced rather than compared.
        row = f"({', '.join('?' * len(COLUMNS))})"
        head = f"INSERT INTO {name} ({', '.join(COLUMNS)}) VALUES "
        tail = (
            f" ON CONFLICT(entity_key, feature_name) DO UPDATE SET {updates} "
            f"WHERE typeof({name}.event_ts) != 'integer' OR excluded.event_ts >= {name}.event_ts"
        )
        many, one = head + ", ".join([row] * ROWS_PER_STATEMENT) + tail, head + row + tail
        width = len(COLUMNS) * ROWS_PER_STATEMENT
        before = conn.total_changes
        with conn:
            for rows in batches:
                rows = rows if isinstance(rows, list) else list(rows)
                full = len(rows) - len(rows) % ROWS_PER_STATEMENT
                if full:
                    # the parameters of ROWS_PER_STATEMENT rows at a time, flattened
                    values = iter(chain.from_iterable(rows[:full]))
                    conn.executemany(many, zip(*[values] * width, strict=True))
                if full < len(rows):
                    conn.executemany(one, rows[full:])
        return conn.total_changes - before

    # -- lifecycle -----------------------------------------------------------------------------

    def disconnect(self) -> None:
        """Close the connection (checkpointing the WAL); the next call opens a new one."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def teardown(self, config: RepoConfig, tables: Sequence[FeatureView], entities: Sequence[Entity]) -> None:
        path = self._get_db_path(config)
        super().teardown(config, tables, entities)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")


def _needs_feast_layout(config: RepoConfig) -> bool:
    """Vector search and the value_num column are Feast's own write path's business."""
    settings = config.online_store
    return bool(getattr(settings, "vector_enabled", False)
                or getattr(settings, "enable_openai_compatible_store", False))


def _rows(batch: pa.RecordBatch, keys: pa.Array, features: list[tuple[str, int]], timestamp: str) -> Iterable[tuple]:
    """Table rows of a slice of entities: all features of one key next to each other, keys in order."""
    n, width = batch.num_rows, len(features)
    values = [encoding.covered(encoding.values(batch.column(name), kind), kind).to_pylist() for name, kind in features]
    texts = [encoding.covered(encoding.value_texts(batch.column(name), kind), kind) for name, kind in features]
    event = np.asarray(encoding.sqlite_event_seconds(batch.column(timestamp)), np.int64)
    return zip(
        np.repeat(_objects(keys.to_pylist()), width).tolist(),
        [name for name, _ in features] * n,
        _interleave(values, n),
        _interleave(texts, n),
        np.repeat(event, width).tolist(),
        repeat(None),
    )


def _objects(items: list) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _interleave(columns: list[list], n: int) -> list:
    """Row-major flattening of per-feature lists: [c0[0], c1[0], ..., c0[1], c1[1], ...]."""
    matrix = np.empty((n, len(columns)), dtype=object)
    for j, column in enumerate(columns):
        matrix[:, j] = column
    return matrix.reshape(-1).tolist()
