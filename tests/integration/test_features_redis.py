"""Feature storage on the running Redis server (127.0.0.1:6379, database 15): the project's Redis store
against Feast's own, newest-wins writes, and the whole online path configured through an Airflow
connection: materialize by data interval, read online, check freshness. A missing server fails."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import redis
import yaml
from datacentric import features as F
from datacentric.errors import FeatureStoreError
from datacentric.features.online_stores import REDIS_STORE
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository

from tests.fixtures.manifest_text import products_manifest

pytestmark = pytest.mark.integration

DB = 15
BASE = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def client():
    conn = redis.Redis(host="127.0.0.1", port=6379, db=DB, socket_connect_timeout=2)
    try:
        conn.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at 127.0.0.1:6379 (start it; .ci/run does): {exc}")
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


# -- the store against Feast's ----------------------------------------------------------------------


def _view():
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Bool, Float64, Int64, String, UnixTimestamp

    entity = Entity(name="product", join_keys=["pid"], value_type=ValueType.INT64)
    return FeatureView(
        name="stats", entities=[entity],
        schema=[Field(name="pid", dtype=Int64), Field(name="price", dtype=Float64), Field(name="stock", dtype=Int64),
                Field(name="label", dtype=String), Field(name="active", dtype=Bool),
                Field(name="seen", dtype=UnixTimestamp)],
        source=FileSource(path="/nonexistent.parquet", timestamp_field="ts"),
    )


def _batch(n: int, seed: int, ts: list[datetime] | None = None, pids: pa.Array | None = None) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    stamps = ts or [BASE + timedelta(microseconds=int(m)) for m in rng.integers(-(10**15), 10**15, n)]
    prices = rng.normal(50, 20, n).tolist()
    prices[1] = float("nan")
    return pa.RecordBatch.from_pydict({
        "pid": pids if pids is not None else pa.array(rng.permutation(10 * n)[:n].astype(np.int64) - n),
        "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        "price": pa.array([None if i % 11 == 0 else p for i, p in enumerate(prices)], pa.float64()),
        "stock": pa.array([None if i % 13 == 0 else int(v) for i, v in enumerate(rng.integers(-5, 10**9, n))]),
        "label": pa.array([None if i % 7 == 0 else "ü" * int(v) for i, v in enumerate(rng.integers(0, 9, n))]),
        "active": pa.array([None if i % 5 == 0 else bool(v) for i, v in enumerate(rng.integers(0, 2, n))]),
        "seen": pa.array(stamps[::-1], pa.timestamp("us", tz="UTC")),
    })


def _config(store_type: str, **extra):
    from feast.repo_config import RegistryConfig, RepoConfig

    return RepoConfig(project="proj", provider="local", registry=RegistryConfig(path="/nonexistent/registry.db"),
                      online_store={"type": store_type, "connection_string": f"127.0.0.1:6379,db={DB}", **extra},
                      offline_store={"type": "file"}, entity_key_serialization_version=3, repo_path=Path("/tmp"))


def _store(config):
    from feast.infra.online_stores.helpers import get_online_store_from_config

    return get_online_store_from_config(config.online_store)


def _protos(batch, view):
    from feast.utils import _convert_arrow_to_proto

    return _convert_arrow_to_proto(batch, view, {"pid": view.entity_columns[0].dtype.to_value_type()})


def _dump(client) -> dict:
    return {key: client.hgetall(key) for key in client.scan_iter(count=1000)}


def test_redis_store_writes_the_hashes_feasts_store_writes(client):
    view = _view()
    batch = _batch(3000, 1)
    stock_config, fast_config = _config("redis"), _config(REDIS_STORE, entities_per_call=77)
    _store(stock_config).online_write_batch(stock_config, view, _protos(batch, view), None)
    expected = _dump(client)
    assert len(expected) == batch.num_rows
    client.flushdb()
    fast = _store(fast_config)
    assert fast.write_arrow(fast_config, view, batch) == batch.num_rows
    assert _dump(client) == expected
    client.flushdb()
    fast.online_write_batch(fast_config, view, _protos(batch, view), None)  # what `feast materialize` calls
    assert _dump(client) == expected

    # Feast's stock store reads the data back exactly as it reads its own.
    keys = [row[0] for row in _protos(batch, view)][:500]
    stock = _store(stock_config)
    read = stock.online_read(stock_config, view, keys)
    assert all(values is not None for _, values in read)
    client.flushdb()
    stock.online_write_batch(stock_config, view, _protos(batch, view), None)
    again = stock.online_read(stock_config, view, keys)

    def plain(rows):
        return [(ts, {k: v.SerializeToString() for k, v in values.items()}) for ts, values in rows]

    assert plain(read) == plain(again)
    fast.disconnect()


def test_redis_store_keeps_the_newest_value_and_sets_key_ttl(client):
    view = _view()
    config = _config(REDIS_STORE, key_ttl_seconds=3600, entities_per_call=50)
    store = _store(config)
    n = 400
    later = [BASE + timedelta(days=2, microseconds=i) for i in range(n)]
    first = _batch(n, 2, ts=later)
    assert store.write_arrow(config, view, first) == n
    before = _dump(client)
    older = _batch(n, 3, ts=[t - timedelta(microseconds=1) for t in later], pids=first.column("pid"))
    assert store.write_arrow(config, view, older) == 0  # a microsecond older: nothing replaced
    store.online_write_batch(config, view, _protos(older, view), None)
    assert _dump(client) == before
    before_1970 = _batch(n, 4, ts=[datetime(1960, 1, 1, tzinfo=UTC)] * n, pids=first.column("pid"))
    assert store.write_arrow(config, view, before_1970) == 0
    same = _batch(n, 5, ts=later, pids=first.column("pid"))
    assert store.write_arrow(config, view, same) == n  # as new as the stored value: replaces it
    assert _dump(client) != before
    ttls = {client.ttl(key) for key in client.scan_iter()}
    assert all(0 < ttl <= 3600 for ttl in ttls)
    store.disconnect()


# -- the online path through an Airflow connection -------------------------------------------------

MANIFEST = products_manifest(
    sources={"products": {"columns": {"title": None, "stock": None, "active": None}}},
    features={"materialization": {"overlap_hours": 6, "chunk_rows": 50, "freshness_sample": 40},
              "feature_views": {"product_stats": {"features": ["price", "category"], "ttl_days": 30}}},
)


def _products(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return pd.DataFrame({
        "product_id": pd.array(rng.integers(1, 120, n), dtype="Int64"),
        "price": rng.integers(100, 10_000, n) / 100,
        "category": rng.choice(["books", "toys", "garden"], n),
        "updated_at": [pd.Timestamp(BASE) + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, 10 * 86400, n)],
    }).astype({"updated_at": "datetime64[ns, UTC]"})


def _latest(rows: pd.DataFrame, end: pd.Timestamp, keys: list[int]) -> pd.DataFrame:
    known = rows[rows["updated_at"] < end].sort_values("updated_at").drop_duplicates("product_id", keep="last")
    known = known.set_index("product_id")
    return pd.DataFrame({
        "product_id": pd.Series(keys, dtype="int64"),
        "price": [known["price"].get(k, np.nan) for k in keys],
        "category": pd.Series([known["category"].get(k) for k in keys], dtype=object),
    })


def test_online_store_from_an_airflow_connection(client, tmp_path, monkeypatch):
    from datacentric_airflow.hooks.features import PASSWORD_VARIABLE, FeastHook, redis_url

    monkeypatch.setenv("AIRFLOW_CONN_FEAST_ONLINE_TEST",
                       f'{{"conn_type": "redis", "host": "127.0.0.1", "port": 6379, "extra": {{"db": {DB}}}}}')
    hook = FeastHook("feast_online_test")
    assert hook.online_store() == f"redis://127.0.0.1:6379/{DB}"

    manifest = parse_manifest(MANIFEST).spec
    repo = DataRepository(tmp_path / "repository").init()
    rows = _products()
    repo.publish_frame("validated", "products/p.parquet", rows)
    F.export_feature_tables(manifest, repo)
    feature_repo = F.render_feature_repo(manifest, tmp_path / "feature_repo", repo.root, hook.online_store())
    assert f"type: {REDIS_STORE}" in (feature_repo / "feature_store.yaml").read_text()
    F.apply(feature_repo)

    plan = manifest.features.materialization
    keys = [*range(1, 120), 999]
    day = timedelta(days=1)
    for end in (BASE + 5 * day, BASE + 6 * day, BASE + 9 * day):  # daily runs, then two skipped days
        info = F.materialize_interval(feature_repo, end - day, end, overlap=timedelta(hours=plan.overlap_hours),
                                      chunk_rows=plan.chunk_rows)["product_stats"]
        assert info["chunks"] >= info["rows"] / plan.chunk_rows
        online = F.read_online(feature_repo, "product_stats", ["price", "category"], [{"product_id": k} for k in keys])
        pd.testing.assert_frame_equal(online, _latest(rows, pd.Timestamp(end), keys))
        report = F.check_freshness(feature_repo, sample=plan.freshness_sample)["product_stats"]
        assert report["mismatches"] == 0 and report["checked"] > 0 and report["high_water"] == end.isoformat()

    # An entity missing from Redis (a flushed or lagging server) fails the check, named.
    victim = min(key for key in client.scan_iter())
    client.delete(victim)
    with pytest.raises(FeatureStoreError, match=r"product_id=\d+ (price|category): online None"):
        F.check_freshness(feature_repo, sample=200)

    # A password goes to the environment, never into the rendered file.
    from airflow.models.connection import Connection

    secret = Connection(conn_id="guarded", conn_type="redis", host="cache", port=6380, login="feast",
                        password="s3cret/pw", extra='{"db": 2, "ssl": true}')
    url = redis_url(secret)
    assert url == f"rediss://feast:${{{PASSWORD_VARIABLE}}}@cache:6380/2" and "s3cret" not in url
    yaml_text = yaml.safe_dump(F.feature_store_config("mini", url))
    assert "s3cret" not in yaml_text and PASSWORD_VARIABLE in yaml_text
    monkeypatch.setenv(PASSWORD_VARIABLE, "placeholder")  # restored (unset) after the test
    monkeypatch.setenv("AIRFLOW_CONN_GUARDED", secret.get_uri())
    FeastHook("guarded").prepare_environment()
    assert os.environ[PASSWORD_VARIABLE] == "s3cret/pw"
