"""The Feast stage against real Feast: offline tables, the generated repo, SQLite and Redis online stores,
point-in-time training sets. Expected values always come from a plain pandas computation."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from datacentric import features as F
from datacentric.errors import FeatureStoreError
from datacentric.manifest import parse_manifest
from datacentric.repository import DataRepository

MANIFEST = """
version: 1
name: mini
sources:
  products:
    type: file
    owner: test
    location: {path: products, format: csv}
    keys: [product_id, updated_at]
    event_time: updated_at
    columns:
      product_id: {type: int, nullable: false}
      title: {type: str}
      price: {type: float}
      stock: {type: int}
      category: {type: str}
      active: {type: bool}
      updated_at: {type: timestamp, nullable: false}
features:
  project: mini
  entities:
    product: {join_key: product_id, description: A product.}
  feature_views:
    product_stats:
      source: products
      entity: product
      timestamp: updated_at
      features: [price, stock, category, active]
      ttl_days: 10
"""
VIEW = "product_stats"
KEY, TS = "product_id", "updated_at"
FEATURES = ["price", "stock", "category", "active"]
TTL = timedelta(days=10)
T0 = pd.Timestamp("2026-10-01", tz="UTC")
T1 = pd.Timestamp("2026-10-11", tz="UTC")  # end of the first materialization window
T2 = pd.Timestamp("2026-10-21", tz="UTC")  # end of the second
REDIS_DB = 15


def _manifest():
    return parse_manifest(MANIFEST).spec


def _rows() -> pd.DataFrame:
    """Typed like the validated zone: several products, one whose values change over time."""
    rng = np.random.default_rng(7)
    records = []

    def add(pid, ts, price, stock, category, active):
        records.append((pid, f"title {pid}", price, stock, category, active, ts))

    # product 1: its value changes over time, inside and across both windows
    for day, price in [(0, 10.0), (3, 11.0), (7, 12.5), (12, 9.0), (18, 9.5)]:
        add(1, T0 + pd.Timedelta(days=day, hours=5), price, 100 - day, "books", day % 2 == 0)
    # product 2: one early row only (too old for late event times: ttl)
    add(2, T0 + pd.Timedelta(hours=1), 5.0, 3, "toys", True)
    # product 3: a row exactly at the end of window 1 belongs to window 2
    add(3, T0 + pd.Timedelta(days=2), 7.0, 1, "garden", True)
    add(3, T1, 7.5, None, "garden", False)  # null stock: nulls survive the round trip
    # product 4: first seen in window 2
    add(4, T1 + pd.Timedelta(days=1, minutes=30), 20.0, 9, "kitchen", True)
    # products 5..9: random updates over both windows
    for pid in range(5, 10):
        for _ in range(int(rng.integers(1, 6))):
            seconds = int(rng.integers(0, int((T2 - T0).total_seconds())))
            add(pid, T0 + pd.Timedelta(seconds=seconds), float(rng.integers(100, 10000)) / 100,
                int(rng.integers(0, 50)), str(rng.choice(["books", "toys"])), bool(rng.integers(0, 2)))
    frame = pd.DataFrame(records, columns=[KEY, "title", "price", "stock", "category", "active", TS])
    frame[KEY] = frame[KEY].astype("Int64")
    frame["stock"] = frame["stock"].astype("Int64")
    frame["active"] = frame["active"].astype("bool")
    frame[TS] = frame[TS].astype("datetime64[ns, UTC]")
    return frame


def _fill(repo: DataRepository, rows: pd.DataFrame) -> None:
    """Validated rows split over two files, with one exact duplicate of a row across them."""
    half = len(rows) // 2
    repo.publish_frame("validated", "products/part-0.parquet", rows.iloc[:half].reset_index(drop=True))
    second = pd.concat([rows.iloc[half:], rows.iloc[[0]]], ignore_index=True)
    repo.publish_frame("validated", "products/part-1.parquet", second)


def _latest_before(rows: pd.DataFrame, end: pd.Timestamp, keys: list[int]) -> pd.DataFrame:
    """pandas oracle for the online store: the last row per key with timestamp < end."""
    known = rows[rows[TS] < end].sort_values(TS).drop_duplicates(KEY, keep="last").set_index(KEY)
    out = pd.DataFrame({KEY: pd.Series(keys, dtype="int64")})
    for feature in FEATURES:
        out[feature] = [known[feature].get(k, None) if k in known.index else None for k in keys]
    return _typed(out)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["price"] = frame["price"].astype("float64")
    frame["stock"] = frame["stock"].astype("Int64")
    frame["category"] = frame["category"].astype(object).where(frame["category"].notna(), None)
    frame["active"] = frame["active"].astype("boolean")
    return frame


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One repository with exported tables and an applied SQLite feature repo (Feast is slow to start)."""
    root = tmp_path_factory.mktemp("features")
    repo = DataRepository(root / "repository").init()
    rows = _rows()
    _fill(repo, rows)
    manifest = _manifest()
    F.export_feature_tables(manifest, repo, run_id="run-1")
    feature_repo = F.render_feature_repo(manifest, root / "feature_repo", repo.root, "sqlite")
    applied = F.apply(feature_repo)
    return {"root": root, "repo": repo, "rows": rows, "manifest": manifest, "feature_repo": feature_repo,
            "applied": applied}


# -- offline tables --------------------------------------------------------------------------------


def test_export_is_typed_sorted_deduplicated_and_byte_stable(world):
    repo, rows = world["repo"], world["rows"]
    again = F.export_feature_tables(world["manifest"], repo, run_id="run-2")
    assert again[VIEW].changed is False
    table = pd.read_parquet(repo.path("features", VIEW, "data.parquet"))
    assert list(table.columns) == [KEY, TS, *FEATURES]
    assert str(table[TS].dtype) == "datetime64[ns, UTC]"
    expected = rows[[KEY, TS, *FEATURES]].drop_duplicates([KEY, TS]).sort_values([TS, KEY]).reset_index(drop=True)
    expected[KEY] = expected[KEY].astype("int64")
    expected["active"] = expected["active"].astype("boolean")
    pd.testing.assert_frame_equal(table, expected)
    records = [r for r in repo.changelog() if r.path == f"features/{VIEW}/data.parquet"]
    assert len(records) == 1  # the second export logged nothing
    assert records[0].provenance["duplicates_dropped"] == 1
    assert records[0].provenance["rows_in"] == len(rows) + 1
    assert records[0].run_id == "run-1"


def test_export_does_not_depend_on_file_order_and_picks_duplicates_by_content(tmp_path):
    manifest = _manifest()
    rows = _rows()
    # Same (key, timestamp), different values: a conflict the export resolves by content, not file order.
    clash = rows.iloc[[0]].assign(price=99.0)
    shas = []
    for i, order in enumerate([rows, rows.iloc[::-1]]):
        repo = DataRepository(tmp_path / f"r{i}").init()
        parts = [clash, order] if i else [order, clash]
        for n, part in enumerate(parts):
            repo.publish_frame("validated", f"products/p{n}.parquet", part.reset_index(drop=True))
        published = F.export_feature_tables(manifest, repo)[VIEW]
        shas.append(published.sha256)
        assert repo.changelog()[-1].provenance["conflicting_duplicates"] == 1
    assert shas[0] == shas[1]


def test_export_names_missing_columns(tmp_path):
    repo = DataRepository(tmp_path).init()
    repo.publish_frame("validated", "products/p.parquet", _rows().drop(columns=["stock"]))
    with pytest.raises(FeatureStoreError, match="lack column.*stock"):
        F.export_feature_tables(_manifest(), repo)


# -- the generated Feast repository ----------------------------------------------------------------


def test_render_is_deterministic_and_loads_in_feast(world, monkeypatch):
    from feast.repo_config import load_repo_config
    from feast.repo_operations import parse_repo
    from feast.types import Bool, Float64, Int64, String

    feature_repo = world["feature_repo"]
    before = {p.name: p.read_bytes() for p in feature_repo.glob("*") if p.is_file()}
    F.render_feature_repo(world["manifest"], feature_repo, world["repo"].root, "sqlite")
    assert {p.name: p.read_bytes() for p in feature_repo.glob("*") if p.is_file()} == before
    assert set(before) == {"feature_store.yaml", "definitions.py"}

    config = load_repo_config(feature_repo, feature_repo / "feature_store.yaml")
    assert config.project == "mini"
    assert config.provider == "local"
    assert config.registry.path == "data/registry.db"
    assert config.online_store.type == "sqlite" and config.online_store.path == "data/online.db"
    assert config.offline_store.type == "file"
    assert config.entity_key_serialization_version == 3

    # Collect the definitions exactly as the `feast` command line does.
    monkeypatch.chdir(feature_repo)
    monkeypatch.syspath_prepend(str(feature_repo))
    monkeypatch.delitem(sys.modules, "definitions", raising=False)
    contents = parse_repo(feature_repo)
    monkeypatch.delitem(sys.modules, "definitions", raising=False)
    (view,) = contents.feature_views
    assert view.name == VIEW and view.ttl == TTL
    assert {f.name: f.dtype for f in view.features} == {
        "price": Float64, "stock": Int64, "category": String, "active": Bool}
    assert [c.name for c in view.entity_columns] == [KEY]
    assert Path(view.batch_source.path) == world["repo"].path("features", VIEW, "data.parquet").resolve()
    assert view.batch_source.timestamp_field == TS
    assert [s.name for s in contents.feature_services] == ["mini"]
    assert world["applied"] == sorted(
        ["entity:product", f"data_source:{VIEW}_source", f"feature_view:{VIEW}", "feature_service:mini"])


def test_online_store_configs():
    assert F.online_store_config("sqlite") == {"type": "sqlite", "path": "data/online.db"}
    assert F.redis_connection_string("redis://127.0.0.1:6379/15") == "127.0.0.1:6379,db=15"
    assert F.redis_connection_string("redis://cache") == "cache:6379,db=0"
    assert (F.redis_connection_string("rediss://:${REDIS_PASSWORD}@cache:6380/2")
            == "cache:6380,db=2,password=${REDIS_PASSWORD},ssl=true")
    with pytest.raises(FeatureStoreError, match="literal password") as info:
        F.online_store_config("redis://:hunter2@cache:6379/0")
    assert "hunter2" not in str(info.value)
    with pytest.raises(FeatureStoreError, match="expected 'sqlite' or a Redis URL"):
        F.online_store_config("postgres://db")
    with pytest.raises(FeatureStoreError, match="must be a number"):
        F.online_store_config("redis://cache:6379/zero")


# -- online reads ----------------------------------------------------------------------------------


def test_sqlite_online_holds_latest_value_as_of_each_window_end(world):
    feature_repo, rows = world["feature_repo"], world["rows"]
    keys = [*range(1, 10), 404]
    for start, end in [(T0, T1), (T1, T2)]:
        info = F.materialize(feature_repo, start.to_pydatetime(), end.to_pydatetime())
        in_window = rows[(rows[TS] >= start) & (rows[TS] < end)].drop_duplicates([KEY, TS])
        assert info[VIEW]["rows"] == len(in_window)
        assert info[VIEW]["entities"] == in_window[KEY].nunique()
        online = F.read_online(feature_repo, VIEW, FEATURES, [{KEY: k} for k in keys])
        pd.testing.assert_frame_equal(online, _latest_before(rows, end, keys))
    # the row stamped exactly at T1 was not visible after the first window, and is now
    assert online.set_index(KEY).loc[3, "price"] == 7.5


def test_redis_online_read(world, tmp_path):
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=2)
    client.ping()  # fails (not skips) when the Redis server is not running
    client.flushdb()
    try:
        feature_repo = F.render_feature_repo(
            world["manifest"], tmp_path / "feature_repo", world["repo"].root, f"redis://127.0.0.1:6379/{REDIS_DB}")
        assert "connection_string: 127.0.0.1:6379,db=15" in (feature_repo / "feature_store.yaml").read_text()
        F.apply(feature_repo)
        F.materialize(feature_repo, T0.to_pydatetime(), T2.to_pydatetime())
        assert client.dbsize() > 0
        keys = [1, 2, 3, 4, 7, 404]
        online = F.read_online(feature_repo, VIEW, FEATURES, [{KEY: k} for k in keys])
        pd.testing.assert_frame_equal(online, _latest_before(world["rows"], T2, keys))
    finally:
        client.flushdb()
        client.close()


def test_read_online_names_unknown_features(world):
    with pytest.raises(FeatureStoreError, match="has no feature.*colour"):
        F.read_online(world["feature_repo"], VIEW, ["colour"], [{KEY: 1}])
    with pytest.raises(FeatureStoreError, match="not registered"):
        F.read_online(world["feature_repo"], "nope", [], [{KEY: 1}])


# -- training sets ---------------------------------------------------------------------------------


def _oracle(rows: pd.DataFrame, entity_df: pd.DataFrame) -> pd.DataFrame:
    """For each entity row: the latest feature row with event - ttl <= timestamp <= event, else nulls."""
    out = entity_df.copy()
    values = {f: [] for f in FEATURES}
    for _, row in entity_df.iterrows():
        candidates = rows[(rows[KEY] == row[KEY]) & (rows[TS] <= row["event_timestamp"])
                          & (rows[TS] >= row["event_timestamp"] - TTL)]
        hit = candidates.sort_values(TS).iloc[-1] if len(candidates) else None
        for f in FEATURES:
            values[f].append(None if hit is None else hit[f])
    for f in FEATURES:
        out[f] = values[f]
    return _typed(out)


def test_training_set_is_point_in_time_correct(world):
    rows = world["rows"]
    rng = np.random.default_rng(11)
    n = 60
    span = int((T2 + pd.Timedelta(days=12) - T0).total_seconds())
    entity_df = pd.DataFrame({
        KEY: rng.integers(1, 11, n),  # 10 has no rows at all
        "event_timestamp": [T0 + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, span, n)],
        "label": rng.integers(0, 2, n),
    })
    # Edges: exactly at a feature row, 1 µs before the first one, exactly ttl after the only row of
    # product 2 (still valid), 1 µs later (expired), and a repeated entity row at product 3's row time.
    first = rows[rows[KEY] == 1][TS].min()
    only = rows[rows[KEY] == 2][TS].min()
    edge = pd.DataFrame({
        KEY: [1, 1, 2, 2, 3, 3],
        "event_timestamp": [first, first - pd.Timedelta(microseconds=1), only + TTL,
                            only + TTL + pd.Timedelta(microseconds=1), T1, T1],
        "label": [1, 0, 1, 0, 1, 1],
    })
    entity_df = pd.concat([entity_df, edge], ignore_index=True)
    entity_df.index = pd.RangeIndex(100, 100 + len(entity_df))  # the caller's index is kept
    result = F.training_set(world["feature_repo"], entity_df, [f"{VIEW}:{f}" for f in FEATURES])
    expected = _oracle(rows, entity_df)
    pd.testing.assert_frame_equal(result, expected)
    # the oracle is not vacuous: some rows found values, some (future or expired) did not
    assert result["price"].notna().sum() > 10 and result["price"].isna().sum() > 3
    edges = result["price"].iloc[-6:].tolist()
    assert edges[0] == 10.0 and edges[2] == 5.0 and edges[4:] == [7.5, 7.5]
    assert np.isnan(edges[1]) and np.isnan(edges[3])


def test_training_set_rejects_bad_requests(world):
    entity_df = pd.DataFrame({KEY: [1], "event_timestamp": [T1]})
    with pytest.raises(FeatureStoreError, match="must be 'view:feature'"):
        F.training_set(world["feature_repo"], entity_df, ["price"])
    with pytest.raises(FeatureStoreError, match="lacks join key"):
        F.training_set(world["feature_repo"], entity_df.drop(columns=[KEY]), [f"{VIEW}:price"])


def test_materialize_rejects_empty_window(world):
    with pytest.raises(FeatureStoreError, match="empty window"):
        F.materialize(world["feature_repo"], datetime(2026, 10, 2, tzinfo=timezone.utc),
                      datetime(2026, 10, 2, tzinfo=timezone.utc))
