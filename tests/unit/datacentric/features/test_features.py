"""The Feast stage against real Feast: offline tables, the generated repo, SQLite and Redis online stores,
point-in-time training sets. Expected values always come from a plain pandas computation."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from datacentric import features as F
from datacentric.errors import FeatureStoreError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository

from tests.fixtures.manifest_text import products_manifest

MANIFEST = products_manifest()
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


def test_rows_without_a_key_or_a_timestamp_are_quarantined_with_their_reason(tmp_path, caplog):
    repo = DataRepository(tmp_path).init()
    rows = _rows().astype({"product_id": "Int64"})
    rows.loc[0, "product_id"] = pd.NA
    rows.loc[1, "updated_at"] = pd.NaT
    rows.loc[2, ["product_id", "updated_at"]] = [pd.NA, pd.NaT]
    repo.publish_frame("validated", "products/p.parquet", rows)
    published = F.export_feature_tables(_manifest(), repo, run_id="r1")[VIEW]
    left_out = pd.read_parquet(repo.path("quarantine", f"products/features/{VIEW}.parquet"))
    assert [json.loads(r) for r in left_out["_reasons"]] == [
        ["no join key product_id"], ["no timestamp updated_at"], ["no join key product_id", "no timestamp updated_at"]]
    (record,) = [r for r in repo.changelog() if r.path == f"features/{VIEW}/data.parquet"]
    counts = record.provenance
    assert counts["rows_in"] == len(rows) == counts["rows_out"] + len(left_out) + counts["duplicates_dropped"]
    assert published.rows == counts["rows_out"]
    assert "3 row(s) of source 'products' have no join key or no timestamp" in caplog.text
    # Once every row has both, the quarantine file goes.
    repo.publish_frame("validated", "products/p.parquet", _rows())
    F.export_feature_tables(_manifest(), repo, run_id="r2")
    assert not repo.path("quarantine", f"products/features/{VIEW}.parquet").exists()


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
    assert config.online_store.type == "datacentric.features.online_stores.sqlite.SqliteOnlineStore"
    assert config.online_store.path == "data/online.db"
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
    # Relative to the feature repo, as Feast resolves it: no machine's absolute path in the definitions.
    assert not Path(view.batch_source.path).is_absolute()
    table = world["repo"].path("features", VIEW, "data.parquet").resolve()
    assert (feature_repo / view.batch_source.path).resolve() == table
    assert view.batch_source.timestamp_field == TS
    assert [s.name for s in contents.feature_services] == ["mini"]
    assert world["applied"] == sorted(
        ["entity:product", f"data_source:{VIEW}_source", f"feature_view:{VIEW}", "feature_service:mini"])


def test_online_store_configs():
    assert F.online_store_config("sqlite") == {
        "type": "datacentric.features.online_stores.sqlite.SqliteOnlineStore", "path": "data/online.db"}
    assert F.online_store_config("sqlite", fast=False) == {"type": "sqlite", "path": "data/online.db"}
    assert F.online_store_config("redis://cache:6379/1") == {
        "type": "datacentric.features.online_stores.redis.RedisOnlineStore", "connection_string": "cache:6379,db=1"}
    assert F.online_store_config("redis://cache:6379/1", fast=False)["type"] == "redis"
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
        assert info[VIEW]["written"] == in_window[KEY].nunique()  # one chunk: one write per entity
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


@pytest.fixture(scope="module")
def duckdb_repo(world):
    """The same tables behind a feature repo whose offline store is DuckDB."""
    manifest = parse_manifest(products_manifest(features={"offline_store": "duckdb"})).spec
    repo = F.render_feature_repo(manifest, world["root"] / "feature_repo_duckdb", world["repo"].root, "sqlite")
    F.apply(repo)
    assert "type: duckdb" in (repo / "feature_store.yaml").read_text()
    return repo


@pytest.mark.parametrize("offline_store", ["file", "duckdb"])
def test_training_set_is_point_in_time_correct(world, duckdb_repo, offline_store):
    feature_repo = world["feature_repo"] if offline_store == "file" else duckdb_repo
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
    result = F.training_set(feature_repo, entity_df, [f"{VIEW}:{f}" for f in FEATURES])
    expected = _oracle(rows, entity_df)
    pd.testing.assert_frame_equal(result, expected)
    # the oracle is not vacuous: some rows found values, some (future or expired) did not
    assert result["price"].notna().sum() > 10 and result["price"].isna().sum() > 3
    edges = result["price"].iloc[-6:].tolist()
    assert edges[0] == 10.0 and edges[2] == 5.0 and edges[4:] == [7.5, 7.5]
    assert np.isnan(edges[1]) and np.isnan(edges[3])


TWO_VIEWS = """
version: 1
name: two
sources:
  users:
    type: file
    owner: test
    location: {path: users, format: parquet}
    keys: [user_id, at]
    event_time: at
    columns:
      user_id: {type: int, nullable: false}
      at: {type: timestamp, nullable: false}
      score: {type: float}
  shops:
    type: file
    owner: test
    location: {path: shops, format: parquet}
    keys: [shop_id, at]
    event_time: at
    columns:
      shop_id: {type: str, nullable: false}
      at: {type: timestamp, nullable: false}
      open: {type: bool}
      visits: {type: int}
features:
  project: two
  entities:
    user: {join_key: user_id}
    shop: {join_key: shop_id}
  feature_views:
    user_scores: {source: users, entity: user, timestamp: at, features: [score], ttl_days: 10}
    shop_status: {source: shops, entity: shop, timestamp: at, features: [open, visits], ttl_days: 1}
"""


def test_each_view_of_a_training_set_is_judged_on_its_own(tmp_path):
    """A row with nothing fresh in one view keeps the features of the other (brute-force oracle)."""
    manifest = parse_manifest(TWO_VIEWS).spec
    rng = np.random.default_rng(5)
    stamps = lambda n: T0 + pd.to_timedelta(rng.integers(0, 20 * 86_400, n), unit="s")  # noqa: E731
    users = pd.DataFrame({"user_id": pd.array(rng.integers(1, 6, 40), dtype="Int64"), "at": stamps(40),
                          "score": rng.normal(size=40).round(3)})
    shops = pd.DataFrame({"shop_id": pd.Series(rng.choice(["a", "b", "c"], 30), dtype=object), "at": stamps(30),
                          "open": pd.array(rng.integers(0, 2, 30).astype(bool), dtype="boolean"),
                          "visits": pd.array(rng.integers(0, 9, 30), dtype="Int64")})
    tables = {}
    for view, rows in (("user_scores", users), ("shop_status", shops)):
        tables[view], _ = F.build_feature_table(manifest, view, rows)
        target = tmp_path / "repository" / "features" / view / "data.parquet"
        target.parent.mkdir(parents=True)
        target.write_bytes(F.feature_table_bytes(tables[view]))
    repo = F.render_feature_repo(manifest, tmp_path / "feature_repo", tmp_path / "repository", "sqlite")
    F.apply(repo)
    entity_df = pd.DataFrame({"user_id": rng.integers(1, 7, 80), "shop_id": rng.choice(["a", "b", "c", "d"], 80),
                              "event_timestamp": stamps(80)})
    result = F.training_set(repo, entity_df, ["user_scores:score", "shop_status:open", "shop_status:visits"])

    def latest(table, key, value, event, ttl, features):
        hits = table[(table[key] == value) & (table["at"] <= event) & (table["at"] >= event - ttl)]
        return hits.sort_values("at").iloc[-1][features] if len(hits) else pd.Series({f: None for f in features})

    expected = entity_df.copy()
    user = [latest(tables["user_scores"], "user_id", r.user_id, r.event_timestamp, timedelta(days=10), ["score"])
            for r in entity_df.itertuples()]
    shop = [latest(tables["shop_status"], "shop_id", r.shop_id, r.event_timestamp, timedelta(days=1),
                   ["open", "visits"]) for r in entity_df.itertuples()]
    expected["score"] = pd.Series([u["score"] for u in user], dtype="float64")
    expected["open"] = pd.array([s["open"] for s in shop], dtype="boolean")
    expected["visits"] = pd.array([s["visits"] for s in shop], dtype="Int64")
    pd.testing.assert_frame_equal(result, expected)
    one_sided = result["score"].notna() & result["visits"].isna()
    assert one_sided.sum() > 5 and result["visits"].notna().sum() > 5  # the case the test is about, and the other


def test_training_set_rejects_bad_requests(world):
    entity_df = pd.DataFrame({KEY: [1], "event_timestamp": [T1]})
    with pytest.raises(FeatureStoreError, match="must be 'view:feature'"):
        F.training_set(world["feature_repo"], entity_df, ["price"])
    with pytest.raises(FeatureStoreError, match="lacks join key"):
        F.training_set(world["feature_repo"], entity_df.drop(columns=[KEY]), [f"{VIEW}:price"])


def test_materialize_rejects_empty_window(world):
    with pytest.raises(FeatureStoreError, match="empty window"):
        F.materialize(world["feature_repo"], datetime(2026, 10, 2, tzinfo=UTC),
                      datetime(2026, 10, 2, tzinfo=UTC))


# -- chunked materialization, windows, freshness -----------------------------------------------------


def _fresh_repo(world, path: Path, online_store: str = "sqlite", manifest=None) -> Path:
    repo = F.render_feature_repo(manifest or world["manifest"], path, world["repo"].root, online_store)
    F.apply(repo)
    return repo


def _online(repo: Path, keys: list[int]) -> pd.DataFrame:
    return F.read_online(repo, VIEW, FEATURES, [{KEY: k} for k in keys])


def test_materialize_in_small_chunks_gives_the_same_online_values(world, tmp_path):
    rows = world["rows"]
    keys = [*range(1, 10), 404]
    repo = _fresh_repo(world, tmp_path / "fr")
    info = F.materialize(repo, T0.to_pydatetime(), T2.to_pydatetime(), chunk_rows=2)[VIEW]
    in_window = rows[(rows[TS] >= T0) & (rows[TS] < T2)].drop_duplicates([KEY, TS])
    assert info["rows"] == len(in_window)
    assert info["chunks"] == -(-len(in_window) // 2)
    # several chunks hold rows of product 1: each is written, the newest last
    assert in_window[KEY].nunique() < info["written"] <= len(in_window)
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T2, keys))


def test_offline_table_is_in_time_order_and_windows_skip_row_groups(world, tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    from datacentric.features import tables

    monkeypatch.setattr(tables, "ROW_GROUP_ROWS", 4)
    repo = DataRepository(tmp_path / "repository").init()
    rows = world["rows"]
    _fill(repo, rows)
    F.export_feature_tables(world["manifest"], repo)
    table = pq.ParquetFile(repo.path("features", VIEW, "data.parquet"))
    assert table.num_row_groups == -(-len(rows.drop_duplicates([KEY, TS])) // 4)
    stamps = table.read(columns=[TS]).column(TS).to_pandas()
    assert stamps.is_monotonic_increasing
    feature_repo = F.render_feature_repo(world["manifest"], tmp_path / "fr", repo.root, "sqlite")
    F.apply(feature_repo)
    info = F.materialize(feature_repo, T1.to_pydatetime(), T2.to_pydatetime())[VIEW]
    assert info["row_groups"] == table.num_row_groups
    assert 0 < info["row_groups_read"] < info["row_groups"]
    keys = [*range(1, 10), 404]
    late = rows[(rows[TS] >= T1) & (rows[TS] < T2)]
    expected = _latest_before(late, T2, keys)  # only entities with rows in the window are online
    pd.testing.assert_frame_equal(_online(feature_repo, keys), expected)


def test_an_old_window_materialized_again_does_not_move_values_back(world, tmp_path):
    rows = world["rows"]
    keys = [*range(1, 10), 404]
    repo = _fresh_repo(world, tmp_path / "fr")
    F.materialize(repo, T1.to_pydatetime(), T2.to_pydatetime())
    F.materialize(repo, T0.to_pydatetime(), T1.to_pydatetime())  # a backfill of the earlier interval
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T2, keys))


def test_materialization_window_rules():
    day, hour = timedelta(days=1), timedelta(hours=1)
    start, end = datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)
    window = F.materialization_window
    # first run: back one ttl (or everything without a ttl)
    assert window(start, end, overlap=hour, done=[], ttl=10 * day) == (end - 10 * day, end)
    assert window(start, end, overlap=hour, done=[], ttl=None)[0].year == 1
    # the run after the previous one: the interval plus the overlap
    assert window(start, end, overlap=hour, done=[(start - day, start)], ttl=10 * day) == (start - hour, end)
    # skipped runs: back to the last materialized end
    assert window(start, end, overlap=hour, done=[(start - 5 * day, start - 3 * day)], ttl=10 * day) == (
        start - 3 * day, end)
    # a backfill of an old interval: its own window, whatever was materialized later
    assert window(start, end, overlap=hour, done=[(end, end + day)], ttl=10 * day) == (start - hour, end)
    # a manual run without a data interval (start == end): the overlap before it
    assert window(end, end, overlap=hour, done=[(start - day, end)], ttl=10 * day) == (end - hour, end)


def test_materialize_interval_catches_up_and_records_windows(world, tmp_path):
    from feast import FeatureStore

    rows = world["rows"]
    keys = [*range(1, 10), 404]
    repo = _fresh_repo(world, tmp_path / "fr")
    day = timedelta(days=1)
    first = F.materialize_interval(repo, (T1 - day).to_pydatetime(), T1.to_pydatetime(), overlap=timedelta(hours=1))
    assert first[VIEW]["start"] == (T1 - TTL).isoformat()  # never materialized: back one ttl
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows[rows[TS] >= T1 - TTL], T1, keys))
    second = F.materialize_interval(repo, (T2 - day).to_pydatetime(), T2.to_pydatetime(), overlap=timedelta(hours=1))
    assert second[VIEW]["start"] == T1.isoformat()  # nine skipped days are caught up
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T2, keys))
    recorded = FeatureStore(repo_path=str(repo)).get_feature_view(VIEW).materialization_intervals
    assert [(s.astimezone(UTC), e.astimezone(UTC)) for s, e in recorded] == [
        ((T1 - TTL).to_pydatetime(), T1.to_pydatetime()), (T1.to_pydatetime(), T2.to_pydatetime())]


def test_freshness_check_passes_then_names_a_stale_entity(world, tmp_path):
    import sqlite3

    rows = world["rows"]
    repo = _fresh_repo(world, tmp_path / "fr")
    with pytest.raises(FeatureStoreError, match="never materialized"):
        F.check_freshness(repo)
    F.materialize(repo, T0.to_pydatetime(), T1.to_pydatetime())
    F.materialize(repo, T1.to_pydatetime(), T2.to_pydatetime())
    report = F.check_freshness(repo, sample=100)[VIEW]
    assert report["checked"] == rows[rows[TS] < T2][KEY].nunique()  # the sample covers every entity here
    assert report["mismatches"] == 0 and report["high_water"] == T2.isoformat()
    assert report["covered_from"] == T0.isoformat()
    # a small sample still includes entities of the last window
    small = F.check_freshness(repo, sample=2)[VIEW]
    assert 1 <= small["checked"] <= 2

    # An online value that differs from the latest offline row (here: product 1's price).
    from feast.protos.feast.types.Value_pb2 import Value

    with sqlite3.connect(repo / "data" / "online.db") as conn:
        changed = conn.execute(
            f"UPDATE mini_{VIEW} SET value = ? WHERE feature_name = 'price' AND entity_key = ("
            f"SELECT entity_key FROM mini_{VIEW} ORDER BY event_ts DESC LIMIT 1)",
            (Value(double_val=-1.0).SerializeToString(),),
        ).rowcount
    assert changed == 1
    with pytest.raises(FeatureStoreError, match=r"product_id=\d+ price: online -1\.0, offline"):
        F.check_freshness(repo, sample=100)
    lenient = F.check_freshness(repo, sample=100, raise_on_mismatch=False)[VIEW]
    assert lenient["mismatches"] == 1 and lenient["examples"][0]["feature"] == "price"


def test_feast_materialize_works_on_the_generated_repo(world, tmp_path):
    """`feast materialize` (FeatureStore.materialize) goes through the stores' own write interface and
    leaves the values the chunked path leaves."""
    from feast import FeatureStore

    rows = world["rows"]
    keys = [*range(1, 10), 404]
    repo = _fresh_repo(world, tmp_path / "fr")
    FeatureStore(repo_path=str(repo)).materialize(start_date=T0.to_pydatetime(), end_date=T1.to_pydatetime())
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T1 + pd.Timedelta(microseconds=1), keys))
    F.materialize(repo, T1.to_pydatetime(), T2.to_pydatetime())
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T2, keys))
    assert F.check_freshness(repo)[VIEW]["mismatches"] == 0  # windows recorded by both paths are understood


def test_materialize_interrupted_then_retried_and_rerun(world, tmp_path, monkeypatch):
    """A materialization that dies after some chunks leaves no recorded window; its retry completes it,
    and running the same window again changes nothing."""
    import sqlite3

    from datacentric.features.online_stores.sqlite import SqliteOnlineStore
    from feast import FeatureStore

    rows = world["rows"]
    keys = [*range(1, 10), 404]
    repo = _fresh_repo(world, tmp_path / "fr")
    original = SqliteOnlineStore.write_arrow
    calls = []

    def dying(self, config, table, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, config, table, batch)

    monkeypatch.setattr(SqliteOnlineStore, "write_arrow", dying)
    with pytest.raises(FeatureStoreError, match=f"materialize '{VIEW}' .*disk full"):
        F.materialize(repo, T0.to_pydatetime(), T2.to_pydatetime(), chunk_rows=3)
    assert FeatureStore(repo_path=str(repo)).get_feature_view(VIEW).materialization_intervals == []
    monkeypatch.setattr(SqliteOnlineStore, "write_arrow", original)
    F.materialize(repo, T0.to_pydatetime(), T2.to_pydatetime(), chunk_rows=3)
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T2, keys))

    def table() -> list[tuple]:
        with sqlite3.connect(repo / "data" / "online.db") as conn:
            return conn.execute(f"SELECT * FROM mini_{VIEW} ORDER BY entity_key, feature_name").fetchall()

    before = table()
    F.materialize(repo, T0.to_pydatetime(), T2.to_pydatetime())
    assert table() == before


def test_materialize_through_another_online_store_uses_feasts_path(world, tmp_path):
    """A feature_store.yaml edited to Feast's stock SQLite store still materializes (Feast's own way)."""
    rows = world["rows"]
    keys = [*range(1, 10), 404]
    repo = _fresh_repo(world, tmp_path / "fr")
    config = repo / "feature_store.yaml"
    config.write_text(config.read_text().replace("type: datacentric.features.online_stores.sqlite.SqliteOnlineStore",
                                                 "type: sqlite"))
    info = F.materialize(repo, T0.to_pydatetime(), T2.to_pydatetime())[VIEW]
    assert info["rows"] == len(rows[rows[TS] < T2].drop_duplicates([KEY, TS]))
    pd.testing.assert_frame_equal(_online(repo, keys), _latest_before(rows, T2, keys))
    assert F.check_freshness(repo)[VIEW]["mismatches"] == 0
