"""The project's online stores against Feast's own: byte-identical keys, values and rows, reads that
Feast's stock store gives back identically, newest-wins writes. SQLite here; Redis in
tests/integration/test_features_redis.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from datacentric.features.online_stores import SQLITE_STORE
from datacentric.features.online_stores import encoding as E

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _view(with_list: bool = False):
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

    schema = [Field(name="pid", dtype=Int64), Field(name="d", dtype=Float64), Field(name="f", dtype=Float32),
              Field(name="i", dtype=Int64), Field(name="i32", dtype=Int32), Field(name="s", dtype=String),
              Field(name="b", dtype=Bool), Field(name="t", dtype=UnixTimestamp), Field(name="by", dtype=Bytes)]
    if with_list:
        schema.append(Field(name="l", dtype=Array(Int64)))
    entity = Entity(name="product", join_keys=["pid"], value_type=ValueType.INT64)
    return FeatureView(name="all_types", entities=[entity], schema=schema,
                       source=FileSource(path="/nonexistent.parquet", timestamp_field="ts"))


def _batch(n: int, seed: int, *, ts: datetime | None = None, with_list: bool = False) -> pa.RecordBatch:
    """Random rows of every scalar type Feast stores, with nulls, NaN, negatives, empty and non-ASCII
    strings, timestamps before 1970 and sub-second times; one row per entity."""
    rng = np.random.default_rng(seed)

    def nulls(values: list, p: float = 0.1) -> list:
        return [None if rng.random() < p else v for v in values]

    micros = rng.integers(-60 * 365 * 86400 * 10**6, 10 * 365 * 86400 * 10**6, n)
    stamps = [BASE + timedelta(microseconds=int(m)) for m in micros]
    doubles = rng.normal(size=n).tolist()
    doubles[0] = float("nan")
    columns = {
        "pid": pa.array(rng.permutation(np.arange(-n, n))[:n].astype(np.int64) * 7919),
        "ts": pa.array([ts] * n if ts else stamps, pa.timestamp("us", tz="UTC")),
        "d": pa.array(nulls(doubles), pa.float64()),
        "f": pa.array(nulls(rng.normal(size=n).tolist()), pa.float32()),
        "i": pa.array(nulls(rng.integers(-(10**12), 10**12, n).tolist()), pa.int64()),
        "i32": pa.array(nulls(rng.integers(-(2**31), 2**31 - 1, n).tolist()), pa.int32()),
        "s": pa.array(nulls([("é" * int(k % 7)) + "x" * int(k) for k in rng.integers(0, 200, n)])),
        "b": pa.array(nulls((rng.random(n) < 0.5).tolist()), pa.bool_()),
        "t": pa.array(nulls(stamps[::-1]), pa.timestamp("us", tz="UTC")),
        "by": pa.array(nulls([bytes([int(k) % 256]) * int(k % 5) for k in rng.integers(0, 1000, n)]), pa.binary()),
    }
    if with_list:
        columns["l"] = pa.array([[int(k), -int(k)] for k in rng.integers(0, 100, n)], pa.list_(pa.int64()))
    return pa.RecordBatch.from_pydict(columns)


def _protos(batch: pa.RecordBatch, view):
    from feast.utils import _convert_arrow_to_proto

    return _convert_arrow_to_proto(batch, view, {c.name: c.dtype.to_value_type() for c in view.entity_columns})


# -- encoders ----------------------------------------------------------------------------------------


def test_value_type_numbers_are_feasts():
    from feast.value_type import ValueType

    for name in ("BYTES", "STRING", "INT32", "INT64", "DOUBLE", "FLOAT", "BOOL", "UNIX_TIMESTAMP"):
        assert getattr(E, name) == ValueType[name].value


@pytest.mark.parametrize("seed", [1, 2])
def test_encoders_produce_feasts_bytes(seed):
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _redis_key, extract_text_and_num
    from feast.utils import make_tzaware, to_naive_utc
    from google.protobuf.timestamp_pb2 import Timestamp

    view = _view()
    batch = _batch(3000, seed)
    rows = _protos(batch, view)
    keys = E.entity_keys([batch.column("pid")], ["pid"], [E.INT64]).to_pylist()
    assert keys == [serialize_entity_key(r[0], 3) for r in rows]
    redis_keys = E.entity_keys([batch.column("pid")], ["pid"], [E.INT64], suffix=b"proj").to_pylist()
    assert redis_keys == [_redis_key("proj", r[0], 3) for r in rows]
    for field in view.features:
        kind = field.dtype.to_value_type().value
        assert E.values(batch.column(field.name), kind).to_pylist() == [
            r[1][field.name].SerializeToString() for r in rows], field.name
        assert E.value_texts(batch.column(field.name), kind) == [
            extract_text_and_num(r[1][field.name], False)[0] for r in rows], field.name
    encoded, _, _ = E.timestamp_protos(batch.column("ts"))

    def stamp(value: datetime) -> bytes:
        proto = Timestamp()
        proto.FromDatetime(make_tzaware(value))
        return proto.SerializeToString()

    assert encoded.to_pylist() == [stamp(r[2]) for r in rows]
    assert E.sqlite_event_seconds(batch.column("ts")) == [int(to_naive_utc(r[2]).timestamp()) for r in rows]


def test_entity_keys_of_strings_and_several_join_keys():
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    names = ["zeta", "", "ünïcode", "a" * 300]
    ids = [3, -1, 0, 2**40]
    got = E.entity_keys([pa.array(names), pa.array(ids, pa.int64())], ["store", "item"], [E.STRING, E.INT64])
    expected = [serialize_entity_key(EntityKey(join_keys=["store", "item"],
                                               entity_values=[Value(string_val=s), Value(int64_val=i)]), 3)
                for s, i in zip(names, ids, strict=True)]
    assert got.to_pylist() == expected
    with pytest.raises(ValueError, match="entity key column 'item' has 1 null"):
        E.entity_keys([pa.array([1, None], pa.int64())], ["item"], [E.INT64])
    assert E.entity_keys([pa.array([1.5])], ["item"], [E.DOUBLE]) is None  # not a key type Feast serializes


def test_unsupported_columns_are_left_to_feast():
    assert not E.supported(pa.list_(pa.int64()), E.INT64)
    assert E.values(pa.array([1, 2], pa.int64()), E.STRING) is None
    assert E.values(pa.array(["1"]), E.INT64) is None
    assert E.value_texts(pa.array([1.0]), E.INT32) is None


# -- the SQLite store --------------------------------------------------------------------------------


def _config(tmp_path: Path, store_type: str, name: str):
    from feast.repo_config import RegistryConfig, RepoConfig

    return RepoConfig(project="proj", provider="local", registry=RegistryConfig(path=str(tmp_path / "registry.db")),
                      online_store={"type": store_type, "path": str(tmp_path / name)},
                      offline_store={"type": "file"}, entity_key_serialization_version=3, repo_path=tmp_path)


def _store(config, view):
    from feast.infra.online_stores.helpers import get_online_store_from_config

    store = get_online_store_from_config(config.online_store)
    store.update(config, [], [view], [], [], False)
    return store


def _rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT entity_key, feature_name, value, value_text, event_ts, created_ts "
                            "FROM proj_all_types ORDER BY entity_key, feature_name").fetchall()


@pytest.mark.parametrize("with_list", [False, True], ids=["scalars", "with-list-feature"])
def test_sqlite_store_writes_the_rows_feasts_store_writes(tmp_path, with_list):
    view = _view(with_list)
    batch = _batch(2500, 3, with_list=with_list)
    stock_config, fast_config = _config(tmp_path, "sqlite", "stock.db"), _config(tmp_path, SQLITE_STORE, "fast.db")
    stock, fast = _store(stock_config, view), _store(fast_config, view)
    stock.online_write_batch(stock_config, view, _protos(batch, view), None)
    assert fast.write_arrow(fast_config, view, batch) == batch.num_rows
    expected = _rows(tmp_path / "stock.db")
    assert len(expected) == batch.num_rows * len(view.features)
    assert _rows(tmp_path / "fast.db") == expected
    # Feast's own write interface of the fast store (what `feast materialize` calls) writes the same rows.
    proto_config = _config(tmp_path, SQLITE_STORE, "fast_protos.db")
    _store(proto_config, view).online_write_batch(proto_config, view, _protos(batch, view), None)
    assert _rows(tmp_path / "fast_protos.db") == expected

    # Feast's stock store reads the fast store's file exactly as its own.
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    keys = [r[0] for r in _protos(batch, view)][:300]
    reader = SqliteOnlineStore()
    fast_read = reader.online_read(_config(tmp_path, "sqlite", "fast.db"), view, keys)
    own_read = SqliteOnlineStore().online_read(stock_config, view, keys)
    assert [(ts, {k: v.SerializeToString() for k, v in values.items()}) for ts, values in fast_read] == [
        (ts, {k: v.SerializeToString() for k, v in values.items()}) for ts, values in own_read]


def test_sqlite_store_keeps_the_newest_value(tmp_path):
    view = _view()
    config = _config(tmp_path, SQLITE_STORE, "online.db")
    store = _store(config, view)
    later, earlier = BASE + timedelta(days=2), BASE + timedelta(days=1)
    first = _batch(500, 4, ts=later)
    assert store.write_arrow(config, view, first) == 500
    before = _rows(tmp_path / "online.db")
    older = _batch(500, 5, ts=earlier).set_column(0, "pid", first.column("pid"))  # same entities, older rows
    assert store.write_arrow(config, view, older) == 0
    store.online_write_batch(config, view, _protos(older, view), None)  # Feast's interface: the same rule
    assert _rows(tmp_path / "online.db") == before
    same_time = _batch(500, 6, ts=later).set_column(0, "pid", first.column("pid"))
    assert store.write_arrow(config, view, same_time) == 500  # as new as the stored row: replaces it
    assert _rows(tmp_path / "online.db") != before
    with sqlite3.connect(tmp_path / "online.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.disconnect()
    store.teardown(config, [view], [])
    assert not any(tmp_path.glob("online.db*"))
