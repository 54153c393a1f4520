"""Materialization throughput into SQLite and Redis against a raw batched upsert, and peak memory.

1. An offline feature table of `--entities` entities (one row each) with ten features (six float, three
   int, one string), timestamps spread over 30 days, written the way the features stage writes it
   (timestamp order, row groups of datacentric.features.tables.ROW_GROUP_ROWS rows).
2. For each store, in this process: the project's path (`datacentric.features.materialize` over the
   whole span: read in chunks, latest row per entity, keys and values serialized, written) against a
   raw batched upsert of the same rows into the same store: right after the project writes a chunk,
   the same entity rows, serialized in Feast's format beforehand (untimed), go in with one
   executemany per chunk in one transaction, of INSERT statements of 50 rows each as the store uses
   (SQLite: a second database file with the same table, connection settings and row order) or one
   pipeline of HSETs per 1,000 entities (Redis: the same database, keys prefixed `raw:`).
   Interleaving chunk by chunk gives both the same machine load however it drifts (the machine is
   shared); the baseline's time is taken out of the project's.
   A sample of entities is compared between the two afterwards, value for value.
   ratio = project rows/s / raw rows/s.
3. Against the stock tool a user would pick instead: Feast's own `FeatureStore.materialize` into
   Feast's own SQLite and Redis online stores (the generated repository with `online_store.type`
   sqlite / redis, Feast project `bench_stock` so its Redis keys are its own), and the project's
   `materialize` into its stores, of the same offline table (`--feast-entities` entities, its own
   file) over the same window, one run each. Before the time counts, both stores must hold the same
   number of entities and the same online values (`read_online`, served by each store's own reader,
   of 2,000 sampled entities, compared frame to frame). speed-up = Feast's time / the project's.
   Feast turns every row into protobuf objects in one process, at a few thousand entities/s here,
   so the default size keeps this part to a few minutes.
4. Peak memory (ru_maxrss) of a fresh interpreter that materializes 1M and 5M rows (5M entities) into
   Redis, each in its own subprocess.

Redis database 15 by default (`--redis`; the integration stack picks its dbs among 1-14) is flushed
before and after; the benchmark refuses to start on a database that holds keys other than its own.
Last line JSON:
{"benchmark": "materialize", "ratio_sqlite": ..., "ratio_redis": ..., "speedup_vs_feast_sqlite": ...,
"speedup_vs_feast_redis": ..., "peak_rss_mb_1m": ..., "peak_rss_mb_5m": ...}
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "include")]

VIEW = "bench_view"
KEY = "item_id"
TS = "updated_at"
FLOATS = [f"f{i}" for i in range(6)]
INTS = [f"i{i}" for i in range(3)]
STRINGS = ["label"]
FEATURES = FLOATS + INTS + STRINGS
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=30)
END = START + SPAN
MANIFEST = f"""
version: 1
name: bench
sources:
  items:
    type: file
    owner: bench
    location: {{path: items, format: parquet}}
    keys: [{KEY}]
    event_time: {TS}
    columns:
      {KEY}: {{type: int, nullable: false}}
      {TS}: {{type: timestamp, nullable: false}}
{chr(10).join(f"      {f}: {{type: float}}" for f in FLOATS)}
{chr(10).join(f"      {f}: {{type: int}}" for f in INTS)}
{chr(10).join(f"      {f}: {{type: str}}" for f in STRINGS)}
features:
  project: bench
  entities:
    item: {{join_key: {KEY}}}
  feature_views:
    {VIEW}:
      source: items
      entity: item
      timestamp: {TS}
      features: [{", ".join(FEATURES)}]
      ttl_days: 3650
"""


def write_table(path: Path, rows: int, seed: int) -> None:
    """One row per entity, in timestamp order, generated and written a row group at a time."""
    from datacentric.features.tables import ROW_GROUP_ROWS

    rng = np.random.default_rng(seed)
    entities = rng.permutation(rows).astype(np.int64) + 1
    span_us = int(SPAN.total_seconds() * 1e6)
    start_us = int(START.timestamp() * 1e6)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [(KEY, pa.int64()), (TS, pa.timestamp("ns", tz="UTC"))]
        + [(f, pa.float64()) for f in FLOATS] + [(f, pa.int64()) for f in INTS] + [(f, pa.string()) for f in STRINGS]
    )
    labels = np.array([f"label-{i:03d}" for i in range(500)], dtype=object)
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, rows, ROW_GROUP_ROWS):
            hi = min(rows, lo + ROW_GROUP_ROWS)
            n = hi - lo
            # increasing timestamps across the file, so each row group covers its own time range
            stamps = start_us + (np.arange(lo, hi, dtype=np.int64) * span_us) // rows
            columns = {KEY: pa.array(entities[lo:hi]), TS: pa.array(stamps * 1000, pa.timestamp("ns", tz="UTC"))}
            for f in FLOATS:
                values = rng.normal(100, 30, n)
                columns[f] = pa.array(values, mask=rng.random(n) < 0.01)
            for f in INTS:
                columns[f] = pa.array(rng.integers(-1000, 100000, n), mask=rng.random(n) < 0.01)
            for f in STRINGS:
                columns[f] = pa.array(labels[rng.integers(0, len(labels), n)].tolist(), pa.string())
            writer.write_table(pa.table(columns, schema=schema), row_group_size=ROW_GROUP_ROWS)


def feature_repo(work: Path, name: str, online_store: str, *, stock: bool = False) -> Path:
    """The generated feature repository; `stock`: configured for Feast's own online stores, as Feast
    project `bench_stock`."""
    from datacentric import features as F
    from datacentric.manifest import parse_manifest

    text = MANIFEST.replace("project: bench", "project: bench_stock") if stock else MANIFEST
    manifest = parse_manifest(text).spec
    repo = F.render_feature_repo(manifest, work / name, work / "repository", online_store)
    if stock:
        config = F.feature_store_config(manifest.features.project, online_store, fast=False)
        (repo / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    F.apply(repo)
    return repo


class RawUpsert:
    """The baseline: the same entity rows, serialized in Feast's format with the store's encoders
    (untimed) and written with a plain batched upsert into the same store (timed).

    It runs right after each chunk the project writes, on that chunk's rows, so both see the same
    machine load however it drifts during the run (the machine is shared); the time it takes is
    taken out of the project's time. SQLite: a second database file with the same table, connection
    settings and row order, one executemany per chunk in one transaction, of INSERT statements of
    ROWS_PER_STATEMENT rows (one-row statements for the rest), as the store writes. Redis: the same
    database, keys prefixed with `raw:`, one pipeline of HSETs per 1,000 entities.
    """

    def __init__(self, kind: str, repo: Path, client=None, per_pipeline: int = 1000) -> None:
        self.kind, self.client, self.per_pipeline = kind, client, per_pipeline
        self.raw_seconds = 0.0  # the baseline's writes
        self.injected_seconds = 0.0  # everything the baseline added to the project's wall time
        if kind == "sqlite":
            from datacentric.features.online_stores.sqlite import COLUMNS

            self.conn = sqlite3.connect(repo / "data" / "raw.db")
            for pragma in ("journal_mode=wal", "synchronous=normal", "cache_size=-65536"):
                self.conn.execute(f"PRAGMA {pragma}")
            table = f"bench_{VIEW}"
            self.conn.execute(f"CREATE TABLE {table} (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, "
                              "vector_value BLOB, event_ts timestamp, created_ts timestamp, "
                              "PRIMARY KEY(entity_key, feature_name))")
            self.conn.execute(f"CREATE INDEX {table}_ek ON {table} (entity_key)")
            from datacentric.features.online_stores.sqlite import ROWS_PER_STATEMENT

            row = f"({', '.join('?' * len(COLUMNS))})"
            upsert = " ON CONFLICT(entity_key, feature_name) DO UPDATE SET " + ", ".join(
                f"{c} = excluded.{c}" for c in COLUMNS[2:])
            head = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES "
            self.per_statement, self.width = ROWS_PER_STATEMENT, ROWS_PER_STATEMENT * len(COLUMNS)
            self.sql = head + row + upsert
            self.sql_many = head + ", ".join([row] * ROWS_PER_STATEMENT) + upsert

    def after(self, view, batch) -> None:
        began = time.perf_counter()
        rows = self._rows(view, batch)
        writing = time.perf_counter()
        if self.kind == "sqlite":
            full = len(rows) - len(rows) % self.per_statement
            with self.conn:
                values = iter(itertools.chain.from_iterable(rows[:full]))
                self.conn.executemany(self.sql_many, zip(*[values] * self.width, strict=True))
                self.conn.executemany(self.sql, rows[full:])
        else:
            for lo in range(0, len(rows), self.per_pipeline):
                with self.client.pipeline(transaction=False) as pipe:
                    for key, args in rows[lo:lo + self.per_pipeline]:
                        pipe.execute_command("HSET", key, *args)
                    pipe.execute()
        done = time.perf_counter()
        self.raw_seconds += done - writing
        self.injected_seconds += done - began

    def _rows(self, view, batch) -> list:
        import pyarrow.compute as pc
        from datacentric.features.online_stores import encoding as E
        from feast.infra.online_stores.helpers import _mmh3

        types = {f.name: f.dtype.to_value_type().value for f in view.features}
        if self.kind == "sqlite":
            keys = E.entity_keys([batch.column(KEY)], [KEY], [E.INT64])
            order = pc.sort_indices(keys)  # the store's order
            batch, keys = batch.take(order), keys.take(order).to_pylist()
            seconds = E.sqlite_event_seconds(batch.column(TS))
            columns = [(f, E.values(batch.column(f), types[f]).to_pylist(), E.value_texts(batch.column(f), types[f]))
                       for f in FEATURES]
            return [(keys[i], f, values[i], texts[i], seconds[i], None)
                    for i in range(len(keys)) for f, values, texts in columns]
        keys = E.entity_keys([batch.column(KEY)], [KEY], [E.INT64], suffix=b"bench").to_pylist()
        stamps = E.timestamp_protos(batch.column(TS))[0].to_pylist()
        fields = [_mmh3(f"{VIEW}:{f}") for f in FEATURES]
        columns = [E.values(batch.column(f), types[f]).to_pylist() for f in FEATURES]
        commands = []
        for i, key in enumerate(keys):
            args = [f"_ts:{VIEW}", stamps[i]]
            for field, values in zip(fields, columns, strict=True):
                args += (field, values[i])
            commands.append((b"raw:" + key, args))
        return commands

    def sample(self, project_repo: Path, keys: list[bytes]) -> tuple[list, list]:
        """(project's, baseline's) stored rows or hashes of some entities."""
        if self.kind == "sqlite":
            query = f"SELECT feature_name, value, value_text, event_ts FROM bench_{VIEW} WHERE entity_key = ? " \
                    "ORDER BY feature_name"
            with sqlite3.connect(project_repo / "data" / "online.db") as project:
                ours = [project.execute(query, (k,)).fetchall() for k in keys]
            return ours, [self.conn.execute(query, (k,)).fetchall() for k in keys]
        return [self.client.hgetall(k) for k in keys], [self.client.hgetall(b"raw:" + k) for k in keys]


def compare(kind: str, work: Path, online_store: str, table: Path, chunk_rows: int, client) -> dict:
    """Materialize the whole table with the project's path, the baseline interleaved chunk by chunk."""
    from datacentric import features as F
    from datacentric.features.online_stores.redis import RedisOnlineStore
    from datacentric.features.online_stores.sqlite import SqliteOnlineStore

    repo = feature_repo(work, f"{kind}_repo", online_store)
    raw = RawUpsert(kind, repo, client)
    store_class = SqliteOnlineStore if kind == "sqlite" else RedisOnlineStore
    original = store_class.write_arrow

    def write_arrow(store, config, view, batch):
        written = original(store, config, view, batch)
        raw.after(view, batch)
        return written

    store_class.write_arrow = write_arrow
    try:
        began = time.perf_counter()
        info = F.materialize(repo, START, END + timedelta(seconds=1), chunk_rows=chunk_rows)[VIEW]
        wall = time.perf_counter() - began
    finally:
        store_class.write_arrow = original
    entities = pq.ParquetFile(table).metadata.num_rows
    assert info["rows"] == entities, info
    ours, theirs = raw.sample(repo, sample_keys(table, 2000, suffix=b"" if kind == "sqlite" else b"bench"))
    project_seconds = wall - raw.injected_seconds
    result = {"project_rate": entities / project_seconds, "raw_rate": entities / raw.raw_seconds,
              "project_seconds": project_seconds, "raw_seconds": raw.raw_seconds, "chunks": info["chunks"],
              "identical": ours == theirs and all(ours)}
    result["ratio"] = result["project_rate"] / result["raw_rate"]
    if kind == "redis":
        client.flushdb()
    shutil.rmtree(repo, ignore_errors=True)
    return result


def sample_keys(table: Path, n: int, suffix: bytes = b"") -> list[bytes]:
    from datacentric.features.online_stores import encoding as E

    ids = pq.read_table(table, columns=[KEY]).column(KEY).combine_chunks()
    picked = ids.take(pa.array(np.random.default_rng(3).choice(len(ids), size=min(n, len(ids)), replace=False)))
    return E.entity_keys([picked], [KEY], [E.INT64], suffix=suffix).to_pylist()


def against_feast(kind: str, work: Path, online_store: str, entities: int, chunk_rows: int, client) -> dict:
    """The project's materialize and Feast's stock one of the same table and window; fails unless both
    stores then hold the same entities and online values."""
    import pandas as pd
    from datacentric import features as F
    from feast import FeatureStore

    root = work / f"feast-{kind}"
    table = root / "repository" / "features" / VIEW / "data.parquet"
    write_table(table, entities, seed=7)
    ours_repo = feature_repo(root, "project_repo", online_store)
    stock_repo = feature_repo(root, "stock_repo", online_store, stock=True)
    began = time.perf_counter()
    info = F.materialize(ours_repo, START, END + timedelta(seconds=1), chunk_rows=chunk_rows)[VIEW]
    ours = time.perf_counter() - began
    assert info["rows"] == entities, info
    store = FeatureStore(repo_path=str(stock_repo))
    began = time.perf_counter()
    store.materialize(start_date=START, end_date=END + timedelta(seconds=1) - timedelta(microseconds=1))
    stock = time.perf_counter() - began

    counts = stored_entities(kind, ours_repo, stock_repo, client)
    if counts[0] != entities or counts[1] != entities:
        raise SystemExit(f"{kind}: the project's store holds {counts[0]} entities, Feast's {counts[1]}, "
                         f"the table {entities}")
    ids = pq.read_table(table, columns=[KEY]).column(KEY).to_numpy()
    rows = [{KEY: int(i)} for i in np.random.default_rng(5).choice(ids, size=min(2000, len(ids)), replace=False)]
    ours_values = F.read_online(ours_repo, VIEW, FEATURES, rows)
    stock_values = F.read_online(stock_repo, VIEW, FEATURES, rows)
    if ours_values[FEATURES].isna().all(axis=1).any():
        raise SystemExit(f"{kind}: sampled entities without online values in the project's store")
    pd.testing.assert_frame_equal(ours_values, stock_values, obj=f"{kind} online values, project vs Feast")
    shutil.rmtree(root, ignore_errors=True)
    return {"seconds": ours, "feast_seconds": stock, "speedup": stock / ours, "entities": entities}


def stored_entities(kind: str, ours_repo: Path, stock_repo: Path, client) -> tuple[int, int]:
    """How many entities each store holds (SQLite: distinct entity keys; Redis: keys of each project)."""
    if kind == "sqlite":
        counts = []
        for repo, project in ((ours_repo, "bench"), (stock_repo, "bench_stock")):
            with sqlite3.connect(repo / "data" / "online.db") as conn:
                counts.append(conn.execute(f"SELECT count(DISTINCT entity_key) FROM {project}_{VIEW}").fetchone()[0])
        return counts[0], counts[1]
    ours = sum(1 for key in client.scan_iter(count=10_000) if key.endswith(b"bench"))
    stock = sum(1 for key in client.scan_iter(count=10_000) if key.endswith(b"bench_stock"))
    return ours, stock


def owned(key: bytes) -> bool:
    """Whether a Redis key is one this benchmark writes (the project's, Feast's, the raw upsert's)."""
    return key.startswith(b"raw:") or key.endswith((b"bench", b"bench_stock"))


def memory_child(repo: str, chunk_rows: int) -> None:
    import resource

    from datacentric import features as F

    info = F.materialize(Path(repo), START, END + timedelta(seconds=1), chunk_rows=chunk_rows)[VIEW]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1), "rows": info["rows"], "written": info["written"]}))


def measure_memory(work: Path, rows: int, redis_url: str, client, chunk_rows: int) -> dict:
    table_dir = work / f"mem{rows}"
    table = table_dir / "repository" / "features" / VIEW / "data.parquet"
    write_table(table, rows, seed=rows)
    repo = feature_repo(table_dir, "feature_repo", redis_url)
    client.flushdb()
    # Through a shell that forks: a child exec'd straight from this (large) process inherits its
    # peak RSS in ru_maxrss (Linux keeps the pre-exec high-water mark); a fork of a small shell does not.
    out = subprocess.run(["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable, __file__,
                          "--memory-child", str(repo), "--chunk-rows", str(chunk_rows)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"memory run at {rows} rows failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    client.flushdb()
    shutil.rmtree(table_dir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, nargs=2, default=[1_000_000, 5_000_000])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--feast-entities", type=int, default=250_000, help="size of the comparison with Feast")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.chunk_rows)
        return

    import redis

    client = redis.Redis.from_url(args.redis)
    client.ping()
    foreign = [key for key in client.scan_iter(count=10_000) if not owned(key)]
    if foreign:
        raise SystemExit(f"{args.redis} holds {len(foreign)} key(s) that are not this benchmark's "
                         f"(e.g. {foreign[0]!r}); pass --redis with an empty database")
    client.flushdb()
    work = Path(tempfile.mkdtemp(prefix="bench-materialize-"))
    try:
        table = work / "repository" / "features" / VIEW / "data.parquet"
        began = time.perf_counter()
        write_table(table, args.entities, seed=1)
        print(f"offline table: {args.entities:,} entities x {len(FEATURES)} features, "
              f"{pq.ParquetFile(table).num_row_groups} row groups, {table.stat().st_size / 1e6:.0f} MB "
              f"({time.perf_counter() - began:.1f}s)", flush=True)
        ratios = {}
        for kind, online_store in (("sqlite", "sqlite"), ("redis", args.redis)):
            client.flushdb()
            result = compare(kind, work, online_store, table, args.chunk_rows, client)
            ratios[kind] = result["ratio"]
            print(f"{kind}: project {result['project_rate']:,.0f} entities/s ({result['project_seconds']:.1f}s, "
                  f"{result['chunks']} chunks), raw batched upsert {result['raw_rate']:,.0f} entities/s "
                  f"({result['raw_seconds']:.1f}s); ratio {result['ratio']:.2f}; "
                  f"sampled rows identical: {result['identical']}", flush=True)
            assert result["identical"], f"{kind}: the raw upsert and the project's path left different rows"
        shutil.rmtree(work / "repository")

        stock = {}
        for kind, online_store in (("sqlite", "sqlite"), ("redis", args.redis)):
            client.flushdb()
            stock[kind] = against_feast(kind, work, online_store, args.feast_entities, args.chunk_rows, client)
            result = stock[kind]
            print(f"{kind}: {result['entities']:,} entities: project {result['seconds']:.1f}s, Feast's stock "
                  f"materialize {result['feast_seconds']:.1f}s ({result['entities'] / result['feast_seconds']:,.0f} "
                  f"entities/s); speed-up {result['speedup']:.1f}x; same entities and online values", flush=True)
        client.flushdb()

        small, large = args.memory_rows
        memory = {}
        for rows in (small, large):
            memory[rows] = measure_memory(work, rows, args.redis, client, args.chunk_rows)
            print(f"peak memory materializing {rows:,} rows into Redis (fresh interpreter): "
                  f"{memory[rows]['peak_rss_mb']:.0f} MB", flush=True)
        growth = memory[large]["peak_rss_mb"] / memory[small]["peak_rss_mb"]
        print(f"peak memory at {large:,} rows / at {small:,} rows: {growth:.2f}")
    finally:
        client.flushdb()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "benchmark": "materialize",
        "ratio_sqlite": round(ratios["sqlite"], 3),
        "ratio_redis": round(ratios["redis"], 3),
        "speedup_vs_feast_sqlite": round(stock["sqlite"]["speedup"], 1),
        "speedup_vs_feast_redis": round(stock["redis"]["speedup"], 1),
        "peak_rss_mb_1m": memory[small]["peak_rss_mb"],
        "peak_rss_mb_5m": memory[large]["peak_rss_mb"],
    }))


if __name__ == "__main__":
    main()
