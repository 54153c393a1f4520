"""Point-in-time training sets: the project's path against Feast's stock one and DuckDB's ASOF JOIN.

`--rows` labeled rows (default 1M: an item id, a label, an event time and the keys of three entities)
get the features of three feature views, each value from the latest row of its view at or before the
row's event time and no older than the view's ttl, else null:

- user_activity:  user_id,     5 features, `--users` users updated about every 3 days, ttl 7 days;
- item_stats:     item_id,     4 features, `--items` items updated about every 2 days, ttl 3 days;
- merchant_risk:  merchant_id, 3 features, `--merchants` merchants updated about daily, ttl 1 day.

The offline tables are built from generated validated rows by the features stage's own code
(`build_feature_table`, `feature_table_bytes`) and the Feast repository is generated from the manifest
(`render_feature_repo`, `apply`), with the file offline store. Then, in the same process:

- project: `datacentric.features.training_set(feature_repo, labeled_rows, refs)`, the call the
  training-set stage makes: every row kept, in order, with its columns, the features added and typed
  like the validated rows;
- DuckDB:  the limit: one `ASOF LEFT JOIN` per view over the same Parquet tables, the ttl applied
  in the same query, the result fetched as a pandas frame; on all `--rows` rows, best of `--repeat`;
- Feast:   `FeatureStore.get_historical_features(entity_df=labeled_rows, features=refs).to_df()`,
  Feast's stock point-in-time join on its file offline store, as its documentation shows it. It joins
  every labeled row with every row of its entity in each view before filtering, so it runs on the
  first `--feast-rows` labeled rows (default 100,000), against the project on the same rows.

Before a time counts, the training sets must be the same: for every labeled row (matched by its item
id) the same value of every feature, nulls in the same places. Feast returns rows in its own order and
leaves out every row for which one view has rows of the entity but none fresh enough (the project
keeps such a row, with that view's features null and the others' values): the rows Feast leaves out
must be exactly such rows, and their count is reported.

    .venv/bin/python bench/training_set.py                 # 1M rows (Feast on 100,000), about 8 minutes
    .venv/bin/python bench/training_set.py --rows 100000 --feast-rows 20000

The last line is JSON: {"benchmark": "training_set", "ratio_vs_duckdb_asof": project throughput /
DuckDB's at --rows, "speedup_vs_feast": Feast's time / the project's at --feast-rows, "rows": ...,
"feast_rows": ..., "feast_rows_left_out": ..., "null_share": ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "include")]

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60
EVENT_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class View:
    name: str
    key: str
    entities: int
    updates_every_s: int
    ttl_days: float
    floats: int
    ints: int

    @property
    def features(self) -> list[str]:
        prefix = self.name.split("_")[0]
        return [f"{prefix}_f{i}" for i in range(self.floats)] + [f"{prefix}_n{i}" for i in range(self.ints)]


def views(users: int, items: int, merchants: int) -> list[View]:
    return [
        View("user_activity", "user_id", users, 3 * 86_400, 7, 3, 2),
        View("item_stats", "item_id", items, 2 * 86_400, 3, 2, 2),
        View("merchant_risk", "merchant_id", merchants, 86_400, 1, 2, 1),
    ]


def manifest_text(all_views: list[View]) -> str:
    sources, entities, feature_views = [], [], []
    for view in all_views:
        columns = [f"      {view.key}: {{type: int, nullable: false}}",
                   "      updated_at: {type: timestamp, nullable: false}"]
        columns += [f"      {f}: {{type: {'float' if '_f' in f else 'int'}}}" for f in view.features]
        sources.append(f"  {view.name}_source:\n    type: file\n    owner: bench\n"
                       f"    location: {{path: {view.name}, format: parquet}}\n    keys: [{view.key}, updated_at]\n"
                       f"    event_time: updated_at\n    columns:\n" + "\n".join(columns))
        entities.append(f"    {view.key.removesuffix('_id')}: {{join_key: {view.key}}}")
        feature_views.append(f"    {view.name}:\n      source: {view.name}_source\n"
                             f"      entity: {view.key.removesuffix('_id')}\n      timestamp: updated_at\n"
                             f"      features: [{', '.join(view.features)}]\n      ttl_days: {view.ttl_days}")
    return ("version: 1\nname: bench\nsources:\n" + "\n".join(sources)
            + "\nfeatures:\n  project: bench\n  offline_store: file\n  entities:\n" + "\n".join(entities)
            + "\n  feature_views:\n" + "\n".join(feature_views) + "\n")


def validated_rows(view: View, seed: int) -> pd.DataFrame:
    """Rows of one view's source as validation leaves them: each entity updated at random times."""
    rng = np.random.default_rng(seed)
    span = DAYS * 86_400
    per_entity = max(1, span // view.updates_every_s)
    n = view.entities * per_entity
    keys = np.repeat(np.arange(1, view.entities + 1, dtype=np.int64), per_entity)
    seconds = rng.integers(0, span, n)
    frame = pd.DataFrame({
        view.key: pd.array(keys, dtype="Int64"),
        "updated_at": pd.to_datetime(int(START.timestamp()) + seconds, unit="s", utc=True),
    })
    for feature in view.features:
        if "_f" in feature:
            values = np.round(rng.normal(50, 20, n), 3)
            values[rng.random(n) < 0.02] = np.nan
            frame[feature] = values
        else:
            frame[feature] = pd.array(np.where(rng.random(n) < 0.02, -1, rng.integers(0, 1000, n)), dtype="Int64")
            frame.loc[frame[feature] == -1, feature] = pd.NA
    return frame


def labeled_rows(rows: int, all_views: list[View], seed: int) -> pd.DataFrame:
    """Labeled rows as the training-set stage hands them over: item id, label, event time, entity keys."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "task": np.char.add("item-", np.char.zfill(np.arange(rows).astype(str), 8)).astype(object),
        "label": np.asarray(["negative", "neutral", "positive"], dtype=object)[rng.integers(0, 3, rows)],
        # distinct times: Feast answers rows with equal keys and time once
        EVENT_TIMESTAMP: pd.to_datetime(int(START.timestamp()) + rng.choice(DAYS * 86_400, rows, replace=False),
                                        unit="s", utc=True),
    })
    for view in all_views:
        frame[view.key] = rng.integers(1, view.entities + 1, rows).astype(np.int64)
    return frame


def build_repository(work: Path, all_views: list[View]) -> tuple[Path, list[str]]:
    """Offline tables written by the features stage's code, and the generated Feast repository."""
    from datacentric import features as F
    from datacentric.manifest import parse_manifest

    manifest = parse_manifest(manifest_text(all_views)).spec
    for i, view in enumerate(all_views):
        table, _ = F.build_feature_table(manifest, view.name, validated_rows(view, seed=11 + i))
        target = work / "repository" / "features" / view.name / "data.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(F.feature_table_bytes(table))
    repo = F.render_feature_repo(manifest, work / "feature_repo", work / "repository", "sqlite")
    F.apply(repo)
    refs = [f"{view.name}:{feature}" for view in all_views for feature in view.features]
    return repo, refs


def project_path(repo: Path, labeled: pd.DataFrame, refs: list[str]) -> pd.DataFrame:
    from datacentric import features as F

    return F.training_set(repo, labeled, refs)


def feast_stock(repo: Path, labeled: pd.DataFrame, refs: list[str]) -> pd.DataFrame:
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo))
    with contextlib.chdir(repo):  # the generated FileSources name their tables relative to the repo
        return store.get_historical_features(entity_df=labeled, features=refs).to_df()


def duckdb_asof(work: Path, labeled: pd.DataFrame, all_views: list[View]) -> pd.DataFrame:
    """The limit: DuckDB's ASOF LEFT JOIN per view, ttl applied in the query, fetched as pandas."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("labeled", labeled.assign(__row=np.arange(len(labeled))))  # row order, kept
        select = [f"l.{column}" for column in labeled.columns]
        joins = []
        for i, view in enumerate(all_views):
            alias = f"v{i}"
            path = work / "repository" / "features" / view.name / "data.parquet"
            ttl_us = int(view.ttl_days * 86_400 * 1e6)
            fresh = f"{alias}.updated_at >= l.{EVENT_TIMESTAMP} - to_microseconds({ttl_us})"
            select += [f"CASE WHEN {fresh} THEN {alias}.{f} END AS {f}" for f in view.features]
            joins.append(f"ASOF LEFT JOIN read_parquet('{path}') {alias} ON l.{view.key} = {alias}.{view.key} "
                         f"AND l.{EVENT_TIMESTAMP} >= {alias}.updated_at")
        query = f"SELECT {', '.join(select)} FROM labeled l {' '.join(joins)} ORDER BY l.__row"
        return con.execute(query).df()
    finally:
        con.close()


def check_same(what: str, expected: pd.DataFrame, got: pd.DataFrame, all_views: list[View],
               allow_left_out: bool = False) -> int:
    """Fail unless `got` has, per labeled row (by task), the same value of every feature as `expected`.

    Returns how many rows `got` left out: with `allow_left_out`, only rows for which some view has rows
    of the entity but none fresh enough (that view's features all null in `expected`) may be missing.
    """
    features = [f for view in all_views for f in view.features]
    ours = expected.set_index("task")
    theirs = got.set_index("task")
    if theirs.index.has_duplicates or len(theirs.index.difference(ours.index)):
        raise SystemExit(f"{what}: its training set has rows that are not labeled rows, or repeats some")
    missing = ours.index.difference(theirs.index)
    if len(missing):
        stale = np.zeros(len(missing), dtype=bool)
        for view in all_views:
            known = ours.loc[missing, view.key].isin(set(_entities_with_rows(view)))
            stale |= (ours.loc[missing, view.features].isna().all(axis=1) & known).to_numpy()
        if not allow_left_out or not stale.all():
            raise SystemExit(f"{what}: {len(missing)} labeled rows missing from its training set, "
                             f"{int((~stale).sum())} of them with a fresh row in every view")
    ours = ours.drop(index=missing)[features]
    theirs = theirs.reindex(ours.index)[features]
    for feature in features:
        a, b = ours[feature], theirs[feature]
        null_a, null_b = a.isna().to_numpy(), b.isna().to_numpy()
        if not np.array_equal(null_a, null_b):
            raise SystemExit(f"{what}: feature {feature} is null on {int((null_a != null_b).sum())} rows where "
                             "the project's is not, or the other way round")
        values_a = a.to_numpy(dtype="float64", na_value=np.nan)[~null_a]
        values_b = b.to_numpy(dtype="float64", na_value=np.nan)[~null_b]
        if not np.array_equal(values_a, values_b):
            raise SystemExit(f"{what}: feature {feature} differs from the project's on "
                             f"{int((values_a != values_b).sum())} rows")
    return len(missing)


def _entities_with_rows(view: View) -> np.ndarray:
    """Every entity of a generated view has rows (validated_rows gives each at least one)."""
    return np.arange(1, view.entities + 1)


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    gc.collect()
    began = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - began, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--merchants", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--feast-rows", type=int, default=100_000, help="labeled rows of the comparison with Feast")
    args = parser.parse_args()
    import logging

    logging.getLogger("datacentric").setLevel(logging.WARNING)
    all_views = views(args.users, args.items, args.merchants)
    features = [f for view in all_views for f in view.features]
    work = Path(tempfile.mkdtemp(prefix="bench-training-set-"))
    try:
        began = time.perf_counter()
        repo, refs = build_repository(work, all_views)
        labeled = labeled_rows(args.rows, all_views, seed=3)
        sizes = ", ".join(f"{v.name} {v.entities * max(1, DAYS * 86_400 // v.updates_every_s):,} rows "
                          f"(ttl {v.ttl_days:g} d)" for v in all_views)
        print(f"{args.rows:,} labeled rows; feature views: {sizes}; prepared in {time.perf_counter() - began:.1f}s",
              flush=True)
        times: dict[str, list[float]] = {"project": [], "duckdb": []}
        for attempt in range(args.repeat):
            seconds, ours = timed(project_path, repo, labeled, refs)
            times["project"].append(seconds)
            seconds, limit = timed(duckdb_asof, work, labeled, all_views)
            times["duckdb"].append(seconds)
            assert len(ours) == len(labeled) and ours["task"].tolist() == labeled["task"].tolist()
            check_same("DuckDB ASOF JOIN", ours, limit, all_views)
            null_share = float(ours[features].isna().to_numpy().mean())
            print(f"attempt {attempt + 1}: project {times['project'][-1]:.2f}s, DuckDB ASOF JOIN "
                  f"{times['duckdb'][-1]:.2f}s; the same training set ({null_share:.1%} of the values null)",
                  flush=True)
            del ours, limit
        project, duck = min(times["project"]), min(times["duckdb"])
        ratio = duck / project
        print(f"{args.rows:,} rows x {len(features)} features from {len(all_views)} views: project "
              f"{args.rows / project:,.0f} rows/s, DuckDB ASOF JOIN {args.rows / duck:,.0f} rows/s; "
              f"ratio {ratio:.2f}", flush=True)

        subset = labeled.iloc[:args.feast_rows].reset_index(drop=True)
        project_small = []
        for _ in range(args.repeat):
            seconds, ours = timed(project_path, repo, subset, refs)
            project_small.append(seconds)
        feast, stock = timed(feast_stock, repo, subset, refs)
        left_out = check_same("Feast", ours, stock, all_views, allow_left_out=True)
        speedup = feast / min(project_small)
        print(f"{len(subset):,} rows: project {min(project_small):.2f}s, Feast's get_historical_features "
              f"{feast:.2f}s; the same training set, except {left_out:,} rows Feast left out (a view with "
              f"nothing fresh); speed-up {speedup:.1f}x", flush=True)
        print(json.dumps({"benchmark": "training_set", "ratio_vs_duckdb_asof": round(ratio, 3),
                          "speedup_vs_feast": round(speedup, 2), "rows": args.rows, "feast_rows": len(subset),
                          "feast_rows_left_out": left_out, "null_share": round(null_share, 4)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
