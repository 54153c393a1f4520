"""The Feast stage: offline feature tables, a generated Feast repository, materialization and reads.

The manifest's `features` block is the only place features are defined. From it this module

1. exports one offline table per feature view into the repository's features zone
   (`features/<view>/data.parquet`): the join key, the timestamp (UTC) and the feature columns of the
   source's validated rows, typed as the manifest says, byte-stable for identical input;
2. renders a plain Feast repository (`feature_store.yaml` + `definitions.py`) that the `feast` command
   line works on as is (`feast apply`, `feast materialize`, `feast ui`);
3. applies it; materializes time windows into the online store (SQLite or Redis, served by
   `datacentric.features.online_stores`) a chunk at a time, so memory stays bounded however large the window;
   plans each run's window from its data interval (`materialization_window`);
4. checks the online store's freshness against the offline tables (`check_freshness`), reads online
   features, and builds point-in-time correct training sets.

Feast is imported lazily (importing it takes seconds), so importing this module stays cheap.
Feast's warnings, prints and progress bars are captured and logged at DEBUG level.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import re
import sys
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import yaml

from datacentric.errors import DataCentricError, FeatureStoreError
from datacentric.manifest.model import Features, Manifest
from datacentric.repository.store import DataRepository, Published, write_atomic

log = logging.getLogger(__name__)

FEATURES_ZONE = "features"
TABLE_NAME = "data.parquet"
DEFINITIONS = "definitions.py"
FEATURE_STORE_YAML = "feature_store.yaml"
REGISTRY_PATH = "data/registry.db"  # relative to the feature repo: the folder stays movable
SQLITE_PATH = "data/online.db"
OFFLINE_STORES = ("file", "duckdb")
# Feast 0.67 defaults to 3 and deprecates anything lower; written out so the file says what it uses.
ENTITY_KEY_SERIALIZATION_VERSION = 3
# Rows per Parquet row group of an offline table: the unit materialization reads or skips.
ROW_GROUP_ROWS = 65_536
DEFAULT_CHUNK_ROWS = 100_000
# The entity dataframe column Feast uses for point-in-time joins.
EVENT_TIMESTAMP = "event_timestamp"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# manifest column type -> (feast.types name, pandas dtype of exported / returned values)
_FEAST_TYPE = {
    "int": "Int64",
    "float": "Float64",
    "str": "String",
    "bool": "Bool",
    "timestamp": "UnixTimestamp",
    "date": "UnixTimestamp",  # Feast has no date type: a date is exported as midnight UTC
}
_PANDAS_DTYPE = {
    "int": "Int64",
    "float": "float64",
    "str": "object",
    "bool": "boolean",
    "timestamp": "datetime64[ns, UTC]",
    "date": "datetime64[ns, UTC]",
}
# manifest join key type -> feast ValueType member
_ENTITY_VALUE_TYPE = {"int": "INT64", "str": "STRING"}


# ---------------------------------------------------------------------------------------------
# 1. offline feature tables
# ---------------------------------------------------------------------------------------------


def export_feature_tables(
    manifest: Manifest, repo: DataRepository, *, run_id: str | None = None
) -> dict[str, Published]:
    """Publish one offline table per feature view to `features/<view>/data.parquet`.

    Each table holds the join key, the timestamp (UTC) and the feature columns of the view's source
    (all validated rows), cast to the manifest's types. Rows without a key or a timestamp cannot be
    features and are left out; of several rows with the same (key, timestamp) one is kept, chosen by
    content so the result does not depend on file order. Timestamps are floored to microseconds (what
    Feast's online stores and Python datetimes hold), which also makes materialization windows exact.
    Rows are sorted by (timestamp, key): identical input gives identical bytes, and publishing
    identical bytes is a no-op (`changed=False`).
    """
    features = _features_of(manifest)
    published: dict[str, Published] = {}
    for name, view in features.feature_views.items():
        frame, counts = build_feature_table(manifest, name, _read_validated(repo, name, view.source))
        if counts["conflicting_duplicates"]:
            log.warning(
                "feature view %r: %d (%s, %s) pairs of source %r have rows with different feature values; "
                "kept one per pair (chosen by content)",
                name,
                counts["conflicting_duplicates"],
                features.entities[view.entity].join_key,
                view.timestamp,
                view.source,
            )
        published[name] = repo.publish_bytes(
            FEATURES_ZONE,
            f"{name}/{TABLE_NAME}",
            feature_table_bytes(frame),
            rows=len(frame),
            run_id=run_id,
            provenance={
                "stage": "features",
                "manifest": manifest.name,
                "feature_view": name,
                "source": view.source,
                "inputs": f"validated/{view.source}",
                **counts,
            },
        )
    return published


def build_feature_table(manifest: Manifest, view_name: str, validated: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The offline table of one feature view from its source's validated rows, with row counts.

    counts: rows_in, rows_out, rows_without_key_or_timestamp, duplicates_dropped (rows sharing a
    (key, timestamp) with a kept row) and conflicting_duplicates (such pairs whose features differ).
    """
    features = _features_of(manifest)
    view = _view(features, view_name)
    source = manifest.sources[view.source]
    key = features.entities[view.entity].join_key
    _check_view_columns(view_name, key, view.timestamp, view.features)
    columns = [key, view.timestamp, *view.features]
    missing = [c for c in columns if c not in validated.columns]
    if missing:
        raise FeatureStoreError(
            f"feature view {view_name!r}: validated rows of source {view.source!r} lack column(s) "
            f"{', '.join(missing)} (they have: {', '.join(map(str, validated.columns))})"
        )
    frame = validated[columns].copy()
    for column in columns:
        frame[column] = _cast(frame[column], source.columns[column].type, view_name, column)
    frame[view.timestamp] = frame[view.timestamp].dt.floor("us")

    rows_in = len(frame)
    frame = frame[frame[key].notna() & frame[view.timestamp].notna()]
    without_key = rows_in - len(frame)
    if source.columns[key].type == "int":
        frame[key] = frame[key].astype("int64")  # no nulls left: a plain key type joins without casts in Feast

    # Content order (timestamp, key, then features) makes the choice among duplicates independent of
    # how the validated rows happen to be split into files.
    frame = frame.sort_values(columns[1:2] + columns[:1] + columns[2:], kind="mergesort", na_position="first")
    pair = [key, view.timestamp]
    distinct = frame.drop_duplicates(columns)
    conflicting = len(distinct[distinct.duplicated(pair, keep=False)][pair].drop_duplicates())
    before = len(frame)
    frame = frame.drop_duplicates(pair, keep="last").reset_index(drop=True)
    counts = {
        "rows_in": rows_in,
        "rows_out": len(frame),
        "rows_without_key_or_timestamp": without_key,
        "duplicates_dropped": before - len(frame),
        "conflicting_duplicates": conflicting,
    }
    return frame, counts


def feature_table_bytes(frame: pd.DataFrame) -> bytes:
    """A feature table as Parquet in row groups of ROW_GROUP_ROWS rows.

    Rows are in timestamp order, so each row group covers a time range and its min/max statistics
    let materialization skip every row group outside its window, and read the rest a chunk at a time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, row_group_size=ROW_GROUP_ROWS)
    return sink.getvalue().to_pybytes()


def _read_validated(repo: DataRepository, view_name: str, source: str) -> pd.DataFrame:
    try:
        return repo.read_frame("validated", source)
    except DataCentricError as exc:
        raise FeatureStoreError(
            f"feature view {view_name!r}: no validated rows of source {source!r} to export ({exc}); "
            f"run ingestion and validation of {source!r} first"
        ) from exc


def _cast(series: pd.Series, kind: str, view: str, column: str) -> pd.Series:
    try:
        if kind in ("timestamp", "date"):
            try:
                return _utc_series(series, column)  # naive times are taken as UTC
            except FeatureStoreError as exc:
                raise FeatureStoreError(f"feature view {view!r}: {exc}") from exc
        if kind == "str":
            return _object_with_none(series)
        return series.astype(_PANDAS_DTYPE[kind])
    except (TypeError, ValueError) as exc:
        raise FeatureStoreError(
            f"feature view {view!r}: column {column!r} cannot be read as {kind} ({exc})"
        ) from exc


# ---------------------------------------------------------------------------------------------
# 2. the generated Feast repository
# ---------------------------------------------------------------------------------------------


def render_feature_repo(manifest: Manifest, feature_repo: Path, repository_root: Path, online_store: str) -> Path:
    """Write `feature_store.yaml` and `definitions.py` for the manifest into `feature_repo`.

    `online_store` is "sqlite" (the file `data/online.db` in the feature repo) or a Redis URL
    `redis://[:${PASSWORD_VAR}@]host[:port][/db]` (`rediss://` for TLS). A password may only be given
    as an environment variable reference, which Feast expands when it reads the file: secrets never
    land in the generated files. Both are served by the project's online stores
    (`datacentric.features.online_stores`), which keep Feast's layout and add a fast write path. The offline
    store is the manifest's `features.offline_store` (file or duckdb). Files are written atomically
    and only when their text changes, so rendering twice leaves identical files. Returns the folder.
    """
    features = _features_of(manifest)
    feature_repo = Path(feature_repo)
    config = feature_store_config(features.project, online_store, features.offline_store)
    yaml_text = (
        f"# Generated from manifest {manifest.name!r} by datacentric.features.feast_repo.render_feature_repo.\n"
        "# Do not edit: it is rewritten on every run. Change the manifest or the settings instead.\n"
        + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    )
    definitions = render_definitions(manifest, DataRepository(repository_root))
    (feature_repo / "data").mkdir(parents=True, exist_ok=True)
    _write_text_atomic(feature_repo / FEATURE_STORE_YAML, yaml_text)
    _write_text_atomic(feature_repo / DEFINITIONS, definitions)
    return feature_repo


def feature_store_config(project: str, online_store: str, offline_store: str = "file", *,
                         fast: bool = True) -> dict[str, Any]:
    """The content of feature_store.yaml as a mapping (see render_feature_repo)."""
    if offline_store not in OFFLINE_STORES:
        raise FeatureStoreError(f"offline store {offline_store!r}: expected one of {', '.join(OFFLINE_STORES)}")
    return {
        "project": project,
        "provider": "local",
        "registry": REGISTRY_PATH,
        "online_store": online_store_config(online_store, fast=fast),
        "offline_store": {"type": offline_store},
        "entity_key_serialization_version": ENTITY_KEY_SERIALIZATION_VERSION,
    }


def online_store_config(online_store: str, *, fast: bool = True) -> dict[str, Any]:
    """Feast's online_store block for "sqlite" or a redis:// (rediss://) URL.

    `fast` selects the project's stores (Feast's layout, a columnar newest-wins write path); without it
    Feast's stock stores, which read the same data.
    """
    from datacentric.features.online_stores import REDIS_STORE, SQLITE_STORE

    value = online_store.strip()
    if value == "sqlite":
        return {"type": SQLITE_STORE if fast else "sqlite", "path": SQLITE_PATH}
    if value.startswith(("redis://", "rediss://")):
        return {"type": REDIS_STORE if fast else "redis", "connection_string": redis_connection_string(value)}
    raise FeatureStoreError(
        f"online store {_redact(online_store)!r}: expected 'sqlite' or a Redis URL 'redis://host:port/db'"
    )


def redis_connection_string(url: str) -> str:
    """redis://[user:pass@]host[:port][/db][?k=v] -> Feast's "host:port,db=N[,ssl=true][,k=v]"."""
    where = f"online store {_redact(url)!r}"
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError as exc:
        raise FeatureStoreError(f"{where}: not a valid Redis URL ({exc})") from exc
    if not parts.hostname:
        raise FeatureStoreError(f"{where}: the URL names no host; expected redis://host:port/db")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise FeatureStoreError(f"{where}: database {db!r} must be a number, as in redis://host:6379/0")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    items = [f"{host}:{port}", f"db={int(db)}"]
    for label, secret in (("username", parts.username), ("password", parts.password)):
        if not secret:
            continue
        if label == "password" and not _ENV_REFERENCE.match(secret):
            raise FeatureStoreError(
                f"{where}: a literal password would be written to feature_store.yaml; put it in an "
                "environment variable and write it as a reference, e.g. redis://:${REDIS_PASSWORD}@host:6379/0 "
                "(Feast expands it when it reads the file)"
            )
        items.append(f"{label}={secret}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("db", "ssl", "username", "password") or not _IDENTIFIER.match(key) or "," in value:
            raise FeatureStoreError(f"{where}: unsupported query parameter {key!r}")
        items.append(f"{key}={value}")
    return ",".join(items)


def render_definitions(manifest: Manifest, repo: DataRepository) -> str:
    """The text of definitions.py: Entities, FileSources, FeatureViews and one FeatureService."""
    features = _features_of(manifest)
    for name in [features.project, *features.entities, *features.feature_views]:
        if not _IDENTIFIER.match(name):
            raise FeatureStoreError(f"features: name {name!r} must be letters, digits and underscores")
    lines = [
        f'"""Feast definitions generated from manifest {manifest.name!r} (project {features.project!r}).',
        "",
        "Do not edit: datacentric.features.feast_repo.render_feature_repo rewrites this file on every run.",
        "Change the manifest's `features` block instead.",
        '"""',
        "",
        "from datetime import timedelta",
        "",
        "from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType",
        "from feast.types import " + ", ".join(_types_used(manifest, features)),
        "",
        "# Entities",
    ]
    for name, entity in features.entities.items():
        users = [v for v in features.feature_views.values() if v.entity == name]
        kinds = {manifest.sources[v.source].columns[entity.join_key].type for v in users}
        if len(kinds) > 1:
            raise FeatureStoreError(
                f"features.entities.{name}: join key {entity.join_key!r} has different types in the sources "
                f"of its feature views ({', '.join(sorted(kinds))})"
            )
        kind = kinds.pop() if kinds else "str"
        if kind not in _ENTITY_VALUE_TYPE:
            raise FeatureStoreError(
                f"features.entities.{name}: join key {entity.join_key!r} is of type {kind}; "
                "entity keys must be int or str"
            )
        lines += [
            f"entity_{name} = Entity(",
            f"    name={name!r},",
            f"    join_keys=[{entity.join_key!r}],",
            f"    value_type=ValueType.{_ENTITY_VALUE_TYPE[kind]},",
            f"    description={entity.description!r},",
            ")",
            "",
        ]
    lines.append("# Offline tables (written by export_feature_tables) and feature views")
    for name, view in features.feature_views.items():
        source = manifest.sources[view.source]
        key = features.entities[view.entity].join_key
        _check_view_columns(name, key, view.timestamp, view.features)
        path = repo.path(FEATURES_ZONE, name, TABLE_NAME).resolve()
        ttl_seconds = round(view.ttl_days * 86400)
        schema = [f"        Field(name={key!r}, dtype={_FEAST_TYPE[source.columns[key].type]}),"]
        schema += [
            f"        Field(name={feature!r}, dtype={_FEAST_TYPE[source.columns[feature].type]}),"
            for feature in view.features
        ]
        lines += [
            f"source_{name} = FileSource(",
            f"    name={name + '_source'!r},",
            f"    path={str(path)!r},",
            f"    timestamp_field={view.timestamp!r},",
            f"    description={f'validated rows of source {view.source!r}'!r},",
            ")",
            "",
            f"view_{name} = FeatureView(",
            f"    name={name!r},",
            f"    entities=[entity_{view.entity}],",
            f"    ttl=timedelta(seconds={ttl_seconds}),  # {view.ttl_days:g} days",
            "    schema=[",
            *schema,
            "    ],",
            f"    source=source_{name},",
            "    online=True,",
            f"    description={view.description!r},",
            f"    tags={{'source': {view.source!r}, 'manifest': {manifest.name!r}}},",
            ")",
            "",
        ]
    views = ", ".join(f"view_{name}" for name in features.feature_views)
    lines += [
        "# Every feature of the project",
        f"service_{features.project} = FeatureService(",
        f"    name={features.project!r},",
        f"    features=[{views}],",
        f"    description={f'All feature views of manifest {manifest.name!r}.'!r},",
        ")",
        "",
    ]
    return "\n".join(lines)


def _types_used(manifest: Manifest, features: Features) -> list[str]:
    used = set()
    for view in features.feature_views.values():
        columns = manifest.sources[view.source].columns
        for column in [features.entities[view.entity].join_key, *view.features]:
            used.add(_FEAST_TYPE[columns[column].type])
    return sorted(used)


# ---------------------------------------------------------------------------------------------
# 3. apply, materialize, read
# ---------------------------------------------------------------------------------------------


def apply(feature_repo: Path) -> list[str]:
    """Register the objects of the generated definitions.py, as `feast apply` does.

    Objects that are in the registry but no longer in definitions.py are removed, like `feast apply`.
    Returns the registered objects as "kind:name" ("entity:product", "feature_view:product_catalog",
    "data_source:product_catalog_source", "feature_service:shop"), sorted.
    """
    feature_repo = Path(feature_repo)
    store = _store(feature_repo)
    contents = _load_definitions(feature_repo, store.config)
    with _feast_quiet("apply"):
        from feast.feature_view import DUMMY_ENTITY_NAME
        from feast.repo_operations import apply_total_with_repo_instance

        try:
            apply_total_with_repo_instance(
                store, store.project, store.registry, contents, skip_source_validation=False
            )
        except Exception as exc:  # noqa: BLE001 - Feast raises many unrelated types
            raise FeatureStoreError(f"feast apply of {feature_repo}: {exc}{_hint(exc)}") from exc
    names = [f"entity:{e.name}" for e in contents.entities if e.name != DUMMY_ENTITY_NAME]
    names += [f"data_source:{s.name}" for s in contents.data_sources]
    names += [f"feature_view:{v.name}" for v in contents.feature_views]
    names += [f"feature_service:{s.name}" for s in contents.feature_services]
    return sorted(names)


def materialize(
    feature_repo: Path,
    start: datetime,
    end: datetime,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    views: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Load the latest row per entity with timestamp in [start, end) into the online store.

    Naive datetimes are taken as UTC. The window is half-open, so consecutive windows (Airflow data
    intervals) neither overlap nor leave gaps. Feast's own materialization loads a whole window into
    memory and turns every row into protobuf objects; here the offline table is read `chunk_rows` rows
    at a time (row groups outside the window are skipped by their statistics), each chunk is reduced
    to its latest row per entity and handed, as Arrow columns, to the online store's `write_arrow`.
    Memory stays bounded by the chunk size however many rows the window holds. The stores keep the
    newest value per entity, so chunk order, re-runs and backfills of old windows never move an
    entity back in time. Each window is recorded in the registry, as `feast materialize` records it.

    Returns, per feature view: start, end (ISO), rows (offline rows in the window), written (entity
    rows written; an entity whose rows fall in several chunks counts once per chunk, one older than
    the stored value not at all), chunks, row_groups_read and row_groups.
    """
    feature_repo = Path(feature_repo)
    start, end = _utc(start, "start"), _utc(end, "end")
    if start >= end:
        raise FeatureStoreError(f"materialize: empty window [{start.isoformat()}, {end.isoformat()})")
    store = _store(feature_repo)
    with _feast_quiet("materialize"):
        fvs = _views_to_materialize(store, feature_repo, views)
        return _materialize_windows(store, feature_repo, fvs, {fv.name: (start, end) for fv in fvs}, chunk_rows)


def materialize_interval(
    feature_repo: Path,
    interval_start: datetime,
    interval_end: datetime,
    *,
    overlap: timedelta = timedelta(0),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    views: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Materialize what a run's data interval needs: per feature view the window of
    `materialization_window` (the interval, reaching back `overlap` for late rows, back to the last
    materialized end after a gap, back one ttl the first time)."""
    feature_repo = Path(feature_repo)
    interval_start, interval_end = _utc(interval_start, "interval_start"), _utc(interval_end, "interval_end")
    store = _store(feature_repo)
    with _feast_quiet("materialize"):
        fvs = _views_to_materialize(store, feature_repo, views)
        windows = {
            fv.name: materialization_window(
                interval_start, interval_end, overlap=overlap, ttl=fv.ttl,
                done=_materialized(fv),
            )
            for fv in fvs
        }
        return _materialize_windows(store, feature_repo, fvs, windows, chunk_rows)


def materialization_window(
    interval_start: datetime,
    interval_end: datetime,
    *,
    overlap: timedelta,
    done: list[tuple[datetime, datetime]],
    ttl: timedelta | None,
) -> tuple[datetime, datetime]:
    """The window [start, end) one run materializes for a feature view.

    end is the end of the data interval. start reaches `overlap` before the interval's start, so rows
    that arrived late for the previous interval(s) are picked up. If the view has never been
    materialized (`done` empty: a new view or a fresh online store), start goes back one ttl (all rows
    when there is no ttl), so every live entity gets its value. If the last materialized end lies
    before that start (runs were skipped), start goes back to it, so no rows are left out. A manual run
    without a data interval passes its run_after as both ends: the window is the overlap before it.
    """
    interval_start, interval_end = _utc(interval_start, "interval_start"), _utc(interval_end, "interval_end")
    start = interval_start - overlap
    if interval_end <= start:
        start = interval_end - max(overlap, timedelta(microseconds=1))
    if not done:
        earliest = interval_end - ttl if ttl else datetime(1, 1, 1, tzinfo=UTC)
        return min(start, earliest), interval_end
    latest_end = max(_utc(e, "materialized end") for _, e in done)
    return min(start, latest_end), interval_end


def _views_to_materialize(store, feature_repo: Path, names: list[str] | None) -> list:
    fvs = store.list_feature_views()
    if not fvs:
        raise FeatureStoreError(f"materialize: no feature views registered in {feature_repo}; run apply first")
    if names is None:
        return sorted(fvs, key=lambda fv: fv.name)
    return [_registered_view(store, name) for name in names]


def _materialize_windows(store, feature_repo: Path, fvs: list, windows: dict[str, tuple[datetime, datetime]],
                         chunk_rows: int) -> dict[str, dict[str, Any]]:
    from feast.infra.online_stores.helpers import get_online_store_from_config

    if chunk_rows < 1:
        raise FeatureStoreError(f"materialize: chunk_rows must be at least 1, got {chunk_rows}")
    online = get_online_store_from_config(store.config.online_store)
    columnar = callable(getattr(online, "write_arrow", None))
    results: dict[str, dict[str, Any]] = {}
    try:
        for fv in fvs:
            start, end = windows[fv.name]
            where = f"materialize {fv.name!r} of {feature_repo} over [{start.isoformat()}, {end.isoformat()})"
            try:
                if columnar:
                    stats = _write_view(store.config, online, fv, start, end, chunk_rows)
                    store.registry.apply_materialization(fv, store.project, start, end)
                else:
                    # Another online store configured by hand: Feast's own path (whole window in memory).
                    stats = _write_view(store.config, None, fv, start, end, chunk_rows)
                    store.materialize(start_date=start, end_date=end - timedelta(microseconds=1),
                                      feature_views=[fv.name])
            except FeatureStoreError as exc:
                raise FeatureStoreError(f"{where}: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - Feast and the store clients raise many types
                raise FeatureStoreError(f"{where}: {exc}{_hint(exc)}") from exc
            results[fv.name] = stats
            log.info(
                "materialized %s over [%s, %s): %d offline rows in %d chunks (%d of %d row groups read), "
                "%d entity rows written",
                fv.name, stats["start"], stats["end"], stats["rows"], stats["chunks"], stats["row_groups_read"],
                stats["row_groups"], stats["written"],
            )
    finally:
        disconnect = getattr(online, "disconnect", None)
        if callable(disconnect):
            disconnect()
    return dict(sorted(results.items()))


def _write_view(config, online, fv, start: datetime, end: datetime, chunk_rows: int) -> dict[str, Any]:
    """Stream the window of one view's offline table into `online` (None: only count the rows)."""
    keys, timestamp, names = _view_columns(fv)
    table = _OfflineTable(fv)
    rows = written = chunks = 0
    for batch in table.batches([*keys, timestamp, *names], start, end, chunk_rows):
        rows += batch.num_rows
        chunks += 1
        if online is not None:
            written += online.write_arrow(config, fv, _latest_per_entity(batch, keys, timestamp))
    return {"start": start.isoformat(), "end": end.isoformat(), "rows": rows, "written": written,
            "chunks": chunks, "row_groups_read": table.row_groups_read, "row_groups": table.row_groups}


class _OfflineTable:
    """A view's offline Parquet table, read a chunk at a time over a time window."""

    def __init__(self, fv) -> None:
        import pyarrow.parquet as pq

        self.view = fv.name
        self.path = Path(fv.batch_source.path)
        self.timestamp = fv.batch_source.timestamp_field
        if not self.path.is_file():
            raise FeatureStoreError(
                f"offline table {self.path} of feature view {fv.name!r} does not exist; run export_feature_tables first"
            )
        try:
            # Without pre-buffering: a pre-buffered reader keeps every row group it has read until
            # the iteration ends, which makes memory grow with the window.
            self.file = pq.ParquetFile(self.path, pre_buffer=False)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
            raise FeatureStoreError(
                f"offline table {self.path} of feature view {fv.name!r} is not readable Parquet: {exc}"
            ) from exc
        self.row_groups = self.file.num_row_groups
        self.row_groups_read = 0

    def batches(self, columns: list[str], start: datetime, end: datetime, chunk_rows: int) -> Iterator[Any]:
        """Record batches of at most `chunk_rows` rows with timestamp in [start, end), in file order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = self.file.schema_arrow
        missing = [c for c in columns if schema.get_field_index(c) < 0]
        if missing:
            raise FeatureStoreError(
                f"offline table {self.path} of feature view {self.view!r} lacks column(s) {', '.join(missing)}"
            )
        kind = schema.field(self.timestamp).type
        if not pa.types.is_timestamp(kind):
            raise FeatureStoreError(f"offline table {self.path}: column {self.timestamp!r} is {kind}, not a timestamp")
        groups = [i for i in range(self.row_groups) if self._may_overlap(i, start, end)]
        self.row_groups_read += len(groups)
        if not groups:
            return
        bounds = [start, end] if kind.tz else [start.replace(tzinfo=None), end.replace(tzinfo=None)]
        low, high = (pa.scalar(b, type=pa.timestamp("us", tz=kind.tz)).cast(kind) for b in bounds)
        for batch in self.file.iter_batches(batch_size=chunk_rows, row_groups=groups, columns=columns):
            stamps = batch.column(self.timestamp)
            inside = pc.and_(pc.greater_equal(stamps, low), pc.less(stamps, high))
            batch = batch.filter(pc.fill_null(inside, False))
            if batch.num_rows:
                yield batch

    def _may_overlap(self, group: int, start: datetime, end: datetime) -> bool:
        meta = self.file.metadata.row_group(group)
        for j in range(meta.num_columns):
            column = meta.column(j)
            if column.path_in_schema != self.timestamp:
                continue
            stats = column.statistics
            if stats is None or not stats.has_min_max:
                return True
            try:
                low, high = _utc_timestamp(stats.min), _utc_timestamp(stats.max)
            except (TypeError, ValueError):
                return True
            return low < pd.Timestamp(end) and high >= pd.Timestamp(start)
        return True


def _utc_timestamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _latest_per_entity(batch, keys: list[str], timestamp: str):
    """The latest row of each entity in a batch (of equal times, the later row in file order)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([batch])
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys] + [(timestamp, "ascending")])
    table = table.take(order).combine_chunks()
    n = table.num_rows
    if n <= 1:
        return table
    last = np.ones(n, dtype=bool)
    differs = np.zeros(n - 1, dtype=bool)
    for key in keys:
        column = table.column(key).chunk(0) if table.column(key).num_chunks == 1 else table.column(key).combine_chunks()
        differs |= pc.not_equal(column.slice(1), column.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    last[:-1] = differs
    return table.filter(pa.array(last))


def _view_columns(fv) -> tuple[list[str], str, list[str]]:
    return [c.name for c in fv.entity_columns], fv.batch_source.timestamp_field, [f.name for f in fv.features]


# ---------------------------------------------------------------------------------------------
# 4. freshness
# ---------------------------------------------------------------------------------------------


def check_freshness(
    feature_repo: Path,
    *,
    sample: int = 200,
    seed: int | None = None,
    views: list[str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    raise_on_mismatch: bool = True,
) -> dict[str, dict[str, Any]]:
    """Compare online values with the latest offline values for a sample of entities, per view.

    What the online store must hold follows from the registry's materialization record: for every
    entity with a row in the contiguous materialized span ending at the latest materialized end
    (`high_water`), the values of its latest row before `high_water`. Half of the sample comes from
    the entities of the last window (what the last run changed), half from the whole span. Values are
    read through Feast (`get_online_features`), so the check covers the read path too. Timestamp
    features are compared to the second (Feast stores them in seconds). `seed` picks the sample (by
    default derived from `high_water`, so a re-run checks the same entities).

    Raises FeatureStoreError naming the view, entities, features and both values on any mismatch
    (unless `raise_on_mismatch` is False); returns, per view: high_water, covered_from, checked,
    mismatches (count) and examples.
    """
    feature_repo = Path(feature_repo)
    store = _store(feature_repo)
    with _feast_quiet("freshness"):
        fvs = _views_to_materialize(store, feature_repo, views)
    reports: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for fv in fvs:
        intervals = _materialized(fv)
        if not intervals:
            raise FeatureStoreError(
                f"freshness check: feature view {fv.name!r} was never materialized in {feature_repo}; "
                "run materialize first"
            )
        covered_from, last_start, high_water = _coverage(intervals)
        keys, timestamp, names = _view_columns(fv)
        rng_seed = seed if seed is not None else int(high_water.timestamp())
        sampled = _sample_entities(fv, keys, timestamp, (covered_from, last_start, high_water), sample, rng_seed,
                                   chunk_rows)
        expected = _latest_offline_rows(fv, keys, timestamp, names, sampled, covered_from, high_water, chunk_rows)
        examples: list[dict[str, Any]] = []
        if len(expected):
            online = read_online(feature_repo, fv.name, names, expected[keys].to_dict("records"))
            examples = _differences(fv, keys, timestamp, names, expected, online)
        reports[fv.name] = {
            "high_water": high_water.isoformat(),
            "covered_from": covered_from.isoformat(),
            "checked": len(expected),
            "mismatches": len({tuple(e["entity"].values()) for e in examples}),
            "examples": examples[:20],
        }
        log.info("freshness of %s: %d sampled entities checked against the offline rows before %s, %d differ",
                 fv.name, len(expected), high_water.isoformat(), reports[fv.name]["mismatches"])
        if examples:
            shown = "; ".join(
                f"{_entity_text(e['entity'])} {e['feature']}: online {e['online']!r}, offline {e['offline']!r} "
                f"(offline row at {e['offline_time']})"
                for e in examples[:5]
            )
            problems.append(
                f"feature view {fv.name!r}: {reports[fv.name]['mismatches']} of {len(expected)} sampled entities "
                f"differ from the latest offline rows before {high_water.isoformat()}: {shown}"
            )
    if problems and raise_on_mismatch:
        raise FeatureStoreError(f"freshness check of {feature_repo} failed: " + " | ".join(problems))
    return reports


def _materialized(fv) -> list[tuple[datetime, datetime]]:
    """The windows recorded in the registry for a view, as UTC datetimes."""
    return [(_utc(s, "materialized start"), _utc(e, "materialized end")) for s, e in fv.materialization_intervals]


def _coverage(intervals: list[tuple[datetime, datetime]]) -> tuple[datetime, datetime, datetime]:
    """(covered_from, start of the latest window, high_water) of recorded materialization windows."""
    high_water = max(e for _, e in intervals)
    last_start = [s for s, e in intervals if e == high_water][-1]
    covered_from = high_water
    slack = timedelta(milliseconds=1)  # windows recorded by Feast's own path end 1 µs early
    for s, e in sorted(intervals, key=lambda se: se[1], reverse=True):
        if e + slack >= covered_from:
            covered_from = min(covered_from, s)
    return covered_from, last_start, high_water


def _sample_entities(fv, keys: list[str], timestamp: str, span: tuple[datetime, datetime, datetime], sample: int,
                     seed: int, chunk_rows: int) -> pd.DataFrame:
    """Distinct entity keys, half from the latest window and half from the whole span (reservoirs:
    random priorities, the smallest kept, so memory is the sample plus one chunk)."""
    import numpy as np

    covered_from, last_start, high_water = span
    rng = np.random.default_rng(seed)
    recent_size = sample // 2
    overall_size = sample - recent_size
    overall = recent = pd.DataFrame(columns=[*keys, "__priority"])
    for batch in _OfflineTable(fv).batches([*keys, timestamp], covered_from, high_water, chunk_rows):
        frame = batch.to_pandas()
        frame["__priority"] = rng.random(len(frame))
        overall = _smallest(overall, frame[[*keys, "__priority"]], overall_size, keys)
        is_recent = _utc_series(frame[timestamp], timestamp) >= pd.Timestamp(last_start)
        recent = _smallest(recent, frame.loc[is_recent, [*keys, "__priority"]], recent_size, keys)
    both = pd.concat([recent, overall], ignore_index=True) if len(recent) else overall
    return both[keys].drop_duplicates().reset_index(drop=True)


def _smallest(kept: pd.DataFrame, new: pd.DataFrame, size: int, keys: list[str]) -> pd.DataFrame:
    if size <= 0 or not len(new):
        return kept
    new = new.nsmallest(size, "__priority")
    merged = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    return merged.sort_values("__priority", kind="mergesort").drop_duplicates(keys).head(size)


def _latest_offline_rows(fv, keys, timestamp, names, sampled, covered_from, high_water, chunk_rows) -> pd.DataFrame:
    """The latest row before high_water of each sampled entity, one chunk at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    latest = pd.DataFrame()
    if not len(sampled):
        return pd.DataFrame(columns=[*keys, timestamp, *names])
    single = len(keys) == 1
    wanted = pa.array(sampled[keys[0]].tolist()) if single else None
    for batch in _OfflineTable(fv).batches([*keys, timestamp, *names], covered_from, high_water, chunk_rows):
        if single:
            key_type = batch.schema.field(keys[0]).type
            batch = batch.filter(pc.is_in(batch.column(keys[0]), value_set=wanted.cast(key_type)))
            frame = batch.to_pandas()
        else:
            frame = batch.to_pandas().merge(sampled, on=keys, how="inner")
        if not len(frame):
            continue
        latest = pd.concat([latest, frame], ignore_index=True) if len(latest) else frame
        latest = latest.sort_values(timestamp, kind="mergesort").drop_duplicates(keys, keep="last")
    if not len(latest):
        return pd.DataFrame(columns=[*keys, timestamp, *names])
    return latest.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _differences(fv, keys, timestamp, names, expected: pd.DataFrame, online: pd.DataFrame) -> list[dict[str, Any]]:
    offline = _typed(expected, fv)
    found: list[dict[str, Any]] = []
    for i in range(len(offline)):
        for name in names:
            want, got = offline[name].iloc[i], online[name].iloc[i]
            if _same_value(want, got):
                continue
            found.append({
                "entity": {k: _python_value(offline[k].iloc[i]) for k in keys},
                "feature": name,
                "online": None if _is_null(got) else _python_value(got),
                "offline": None if _is_null(want) else _python_value(want),
                "offline_time": pd.Timestamp(offline[timestamp].iloc[i]).isoformat(),
            })
    return found


def _same_value(want: Any, got: Any) -> bool:
    if _is_null(want) or _is_null(got):
        return _is_null(want) and _is_null(got)
    if isinstance(want, (pd.Timestamp, datetime)):
        return _utc_timestamp(want).floor("s") == _utc_timestamp(got).floor("s")
    return bool(want == got)


def _is_null(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _entity_text(entity: dict[str, Any]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in entity.items())


def read_online(feature_repo: Path, view: str, features: list[str], entity_rows: list[dict]) -> pd.DataFrame:
    """Online values of `features` of `view` (all of them if empty) for each entity row, in row order.

    Columns: the join key then the features, typed like the validated rows (Int64, float64, object,
    boolean, datetime64[ns, UTC]); an entity the store has no value for gets nulls.
    """
    store = _store(Path(feature_repo))
    with _feast_quiet("read_online"):
        fv = _registered_view(store, view)
        names = _check_features(fv, features)
        keys = [c.name for c in fv.entity_columns]
        rows = [{k: _python_value(v) for k, v in row.items()} for row in entity_rows]
        for i, row in enumerate(rows):
            absent = [k for k in keys if k not in row]
            if absent:
                raise FeatureStoreError(f"read_online {view!r}: entity row {i} lacks {', '.join(absent)}: {row}")
        if not rows:
            return _typed(pd.DataFrame({c: [] for c in keys + names}), fv)
        try:
            frame = store.get_online_features(
                features=[f"{view}:{name}" for name in names], entity_rows=rows
            ).to_df()
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"online read of {view!r} from {feature_repo}: {exc}{_hint(exc)}") from exc
    return _typed(frame[keys + names], fv)


def training_set(feature_repo: Path, entity_df: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Point-in-time correct features for each row of `entity_df` (Feast's get_historical_features).

    `entity_df` holds the join keys of the requested views and an event time: a column named
    `event_timestamp`, or its only datetime column (naive times are UTC). `features` are references
    "view:feature". For each row, each feature is taken from the latest row of its view with
    timestamp <= the event time and no older than the view's ttl, else null: nothing from the future.
    The result keeps every row, column, the order and the index of `entity_df`, with the features added.
    """
    store = _store(Path(feature_repo))
    with _feast_quiet("training_set"):
        if not features:
            raise FeatureStoreError("training_set: no features requested; give references 'view:feature'")
        by_view: dict[str, list[str]] = {}
        for ref in features:
            view, sep, name = ref.partition(":")
            if not sep or not view or not name:
                raise FeatureStoreError(f"training_set: feature reference {ref!r} must be 'view:feature'")
            by_view.setdefault(view, []).append(name)
        views = {name: _registered_view(store, name) for name in by_view}
        for name, fv in views.items():
            _check_features(fv, by_view[name])
        keys = list(dict.fromkeys(c.name for fv in views.values() for c in fv.entity_columns))
        ts = _event_time_column(entity_df)
        names = [ref.partition(":")[2] for ref in features]
        clash = sorted(set(names) & set(map(str, entity_df.columns)))
        if clash or len(set(names)) != len(names):
            raise FeatureStoreError(
                f"training_set: feature name(s) {', '.join(clash) or 'requested twice'} would overwrite or repeat "
                "a column of the result"
            )
        absent = [k for k in keys if k not in entity_df.columns]
        if absent:
            raise FeatureStoreError(
                f"training_set: entity_df lacks join key column(s) {', '.join(absent)} "
                f"(it has: {', '.join(map(str, entity_df.columns))})"
            )
        lookup = entity_df[keys].copy()
        for key in keys:
            if pd.api.types.is_integer_dtype(lookup[key].dtype) and lookup[key].notna().all():
                lookup[key] = lookup[key].astype("int64")
        lookup[EVENT_TIMESTAMP] = _utc_series(entity_df[ts], ts)
        bad = lookup.isna().any(axis=1)
        if bad.any():
            raise FeatureStoreError(
                f"training_set: entity_df row(s) at {list(entity_df.index[bad][:5])} have a null join key or event time"
            )
        # Feast collapses entity rows with equal (keys, time); ask once per pair and join back.
        unique = lookup.drop_duplicates().reset_index(drop=True)
        try:
            result = store.get_historical_features(entity_df=unique, features=list(features)).to_df()
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"training set from {feature_repo}: {exc}{_hint(exc)}") from exc
    result = result[keys + [EVENT_TIMESTAMP] + names].copy()
    result[EVENT_TIMESTAMP] = _utc_series(result[EVENT_TIMESTAMP], EVENT_TIMESTAMP)
    for key in keys:
        result[key] = result[key].astype(lookup[key].dtype)
    # Join back onto every requested row. This also restores rows Feast's file offline store leaves out:
    # an entity whose rows are all in the future of (or older than ttl before) the event time gets no
    # row at all from it, where the answer is nulls.
    left = lookup.reset_index(drop=True)
    left["__row"] = range(len(left))
    joined = left.merge(result, on=keys + [EVENT_TIMESTAMP], how="left", validate="many_to_one")
    joined = joined.sort_values("__row", kind="mergesort")
    for fv in views.values():
        joined = _typed(joined, fv)
    out = entity_df.copy()
    for name in names:
        out[name] = joined[name].set_axis(out.index)
    return out


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _features_of(manifest: Manifest) -> Features:
    if manifest.features is None:
        raise FeatureStoreError(f"manifest {manifest.name!r} has no 'features' block")
    return manifest.features


def _view(features: Features, name: str):
    try:
        return features.feature_views[name]
    except KeyError:
        raise FeatureStoreError(
            f"unknown feature view {name!r}; the manifest has: {', '.join(features.feature_views)}"
        ) from None


def _check_view_columns(view: str, key: str, timestamp: str, features: list[str]) -> None:
    clash = [f for f in features if f in (key, timestamp)]
    if clash:
        raise FeatureStoreError(
            f"features.feature_views.{view}: {', '.join(clash)} is the join key or the timestamp, not a feature"
        )
    if len(set(features)) != len(features):
        raise FeatureStoreError(f"features.feature_views.{view}: features are listed twice")


def _write_text_atomic(target: Path, text: str) -> None:
    data = text.encode("utf-8")
    if target.exists() and target.read_bytes() == data:
        return
    write_atomic(target, data)


def _redact(url: str) -> str:
    return re.sub(r"//([^@/]*):([^@/]*)@", r"//\1:***@", url)


@contextlib.contextmanager
def _feast_quiet(what: str) -> Iterator[None]:
    """Capture Feast's warnings, prints and progress bars; log them at DEBUG level."""
    buffer = io.StringIO()
    # Feast logs routine chatter at INFO ("Registry cache expired, so refreshing" on every lookup);
    # keep it out of task logs unless this module is being debugged.
    feast_logger = logging.getLogger("feast")
    level = feast_logger.level
    if not log.isEnabledFor(logging.DEBUG):
        feast_logger.setLevel(max(logging.WARNING, feast_logger.getEffectiveLevel()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield
        finally:
            feast_logger.setLevel(level)
            text = _ANSI.sub("", buffer.getvalue()).strip()
            if text:
                log.debug("feast %s output:\n%s", what, text)
            for message in {str(w.message) for w in caught}:
                log.debug("feast %s warning: %s", what, message)


def _store(feature_repo: Path):
    config = feature_repo / FEATURE_STORE_YAML
    if not config.is_file():
        raise FeatureStoreError(f"{config}: no feature_store.yaml; run render_feature_repo first")
    with _feast_quiet("load"):
        from feast import FeatureStore

        try:
            return FeatureStore(repo_path=str(feature_repo.resolve()))
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"{config}: Feast cannot load it: {exc}") from exc


def _load_definitions(feature_repo: Path, config):
    """The objects of definitions.py, collected the way `feast apply` collects them (parse_repo)."""
    from feast import Entity, FeatureService, FeatureView, Project
    from feast.data_source import DataSource
    from feast.feature_view import DUMMY_ENTITY
    from feast.repo_contents import RepoContents

    path = feature_repo / DEFINITIONS
    if not path.is_file():
        raise FeatureStoreError(f"{path}: no definitions; run render_feature_repo first")
    # A fresh, unregistered module each time: a cached `definitions` from an earlier render (or another
    # feature repo in the same process) must never be reused.
    module_name = f"_datacentric_feast_definitions_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with _feast_quiet("definitions"):
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"{path}: cannot be loaded: {exc}") from exc
        finally:
            sys.modules.pop(module_name, None)
    contents = RepoContents(
        projects=[Project(name=config.project, description=config.project_description or "")],
        data_sources=[],
        feature_views=[],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        entities=[],
        feature_services=[],
        permissions=[],
    )

    def add(items: list, obj: Any) -> None:
        if not any(obj is other for other in items):
            items.append(obj)

    for attr in sorted(vars(module)):
        obj = getattr(module, attr)
        if isinstance(obj, FeatureView):
            add(contents.feature_views, obj)
            if obj.batch_source is not None:
                add(contents.data_sources, obj.batch_source)
        elif isinstance(obj, DataSource):
            add(contents.data_sources, obj)
        elif isinstance(obj, Entity):
            add(contents.entities, obj)
        elif isinstance(obj, FeatureService):
            add(contents.feature_services, obj)
    contents.entities.append(DUMMY_ENTITY)
    return contents


def _registered_view(store, name: str):
    try:
        return store.get_feature_view(name)
    except Exception as exc:  # noqa: BLE001 - FeatureViewNotFoundException and registry errors
        try:
            known = ", ".join(sorted(v.name for v in store.list_feature_views())) or "none"
        except Exception:  # noqa: BLE001
            known = "unknown"
        raise FeatureStoreError(f"feature view {name!r} is not registered (registered: {known}): {exc}") from exc


def _check_features(fv, requested: list[str]) -> list[str]:
    available = [f.name for f in fv.features]
    if not requested:
        return available
    unknown = [f for f in requested if f not in available]
    if unknown:
        raise FeatureStoreError(
            f"feature view {fv.name!r} has no feature(s) {', '.join(unknown)} (it has: {', '.join(available)})"
        )
    return list(requested)


def _typed(frame: pd.DataFrame, fv) -> pd.DataFrame:
    """Cast the feature columns of `fv` present in `frame` to the pandas dtypes of the validated zone."""
    from feast import types as ft

    dtypes = {
        ft.Int64: "Int64",
        ft.Int32: "Int64",
        ft.Float64: "float64",
        ft.Float32: "float64",
        ft.Bool: "boolean",
        ft.String: "object",
        ft.UnixTimestamp: "datetime64[ns, UTC]",
    }
    frame = frame.copy()
    for field in fv.features:
        dtype = dtypes.get(field.dtype)
        if field.name not in frame.columns or dtype is None:
            continue
        column = frame[field.name]
        if dtype == "datetime64[ns, UTC]":
            frame[field.name] = _utc_series(column, field.name)
        elif dtype == "object":
            frame[field.name] = _object_with_none(column)
        else:
            frame[field.name] = column.astype(dtype)
    return frame


def _object_with_none(series: pd.Series) -> pd.Series:
    """Object dtype with None for every null (pandas' where/mask turn None back into NaN)."""
    return pd.Series([None if pd.isna(v) else v for v in series], index=series.index, dtype=object, name=series.name)


def _event_time_column(entity_df: pd.DataFrame) -> str:
    if EVENT_TIMESTAMP in entity_df.columns:
        return EVENT_TIMESTAMP
    candidates = [c for c in entity_df.columns if pd.api.types.is_datetime64_any_dtype(entity_df[c].dtype)]
    if len(candidates) != 1:
        raise FeatureStoreError(
            f"training_set: entity_df needs a column {EVENT_TIMESTAMP!r} or exactly one datetime column "
            f"(datetime columns: {', '.join(map(str, candidates)) or 'none'})"
        )
    return candidates[0]


def _utc_series(series: pd.Series, name: str) -> pd.Series:
    """Timestamps as datetime64[ns, UTC]; naive ones are taken as UTC."""
    try:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            out = series.dt.tz_localize("UTC")
        else:
            out = pd.to_datetime(series, utc=True)
        return out.astype("datetime64[ns, UTC]")
    except (TypeError, ValueError) as exc:
        raise FeatureStoreError(f"column {name!r} is not a timestamp ({exc})") from exc


def _utc(value: datetime, name: str) -> datetime:
    """A plain UTC datetime (naive values are UTC). Subclasses such as pendulum's DateTime, which
    Airflow passes, are converted: their arithmetic can drop the time zone."""
    if not isinstance(value, datetime):
        raise FeatureStoreError(f"materialize: {name} must be a datetime, got {value!r}")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                    value.microsecond, tzinfo=UTC)


def _python_value(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def _hint(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "ConnectionError" in type(exc).__name__:
        return " (is the online store server running and reachable?)"
    if "No such file" in text or isinstance(exc, FileNotFoundError):
        return " (run export_feature_tables and render_feature_repo first)"
    return ""
