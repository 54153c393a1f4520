"""Ingestion throughput against raw Arrow and against DuckDB, and the cost of an incremental run.

A multi-file source of about --size-mb megabytes (CSV and Parquet, generated into a temporary folder)
is ingested, in the same process, by:

- the project (`ingest_source`: parse, type by the manifest, quarantine, Parquet, sha256, atomic
  publish with fsync, change log, state file);
- a raw baseline: pyarrow reads each file and writes it back as Parquet, nothing else;
- DuckDB, the stock tool a user would pick instead: one `COPY (SELECT ... FROM read_csv(...) /
  read_parquet(...)) TO ... (FORMAT PARQUET)` per file, typed to the manifest's schema (the same
  column types, rows with a null in a non-nullable column left out), with DuckDB's defaults
  (all cores).

Each is run twice, alternating, and the faster run of each counts. Before its time counts, the
DuckDB output is checked against the project's: the same rows (every column, compared as a
multiset by DuckDB) and the same column types. DuckDB runs, and checks, in a child process of
this one (timing itself), so that the peak RSS reported is the project's and not DuckDB's buffers.
Then 1% new files (by bytes) are added: the incremental run ingests only them; the full run ingests
the grown source into an empty repository.

    .venv/bin/python bench/ingest.py                 # ~1 GB; --size-mb 100 for a quick look

The last line is JSON: {"benchmark": "ingest", "ratio_vs_raw": project throughput / raw throughput,
"ratio_vs_duckdb": project throughput / DuckDB's, "incremental_fraction": incremental run time /
full run time, "peak_rss_mb": ...}.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "include"))

from datacentric.manifest import parse_manifest  # noqa: E402
from datacentric.repository import DataRepository  # noqa: E402
from datacentric.sources.ingest import ingest_source  # noqa: E402

FILE_MB = 10
CSV_SHARE = 0.6
COLUMNS = """
      event_id: {type: str, nullable: false}
      user_id: {type: int, nullable: false}
      product_id: {type: int, nullable: false}
      price: {type: float}
      quantity: {type: int}
      category: {type: str}
      returned: {type: bool}
      event_time: {type: timestamp, nullable: false}"""
MANIFEST = f"""
name: bench
sources:
  clicks_csv:
    type: file
    owner: bench
    location: {{path: csv, pattern: "*.csv", format: csv}}
    keys: [event_id]
    event_time: event_time
    columns:{COLUMNS}
  clicks_parquet:
    type: file
    owner: bench
    location: {{path: parquet, pattern: "*.parquet", format: parquet}}
    keys: [event_id]
    event_time: event_time
    columns:{COLUMNS}
"""


def table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-10-01T00:00:00", "s")
    times = start + np.sort(rng.integers(0, 30 * 86_400, rows)).astype("timedelta64[s]")
    return pa.table({
        "event_id": pa.array(np.char.add("E", np.char.zfill((seed * 10_000_000 + np.arange(rows)).astype(str), 10))),
        "user_id": rng.integers(1, 1_000_000, rows),
        "product_id": rng.integers(1, 50_000, rows),
        "price": np.round(rng.uniform(1, 500, rows), 2),
        "quantity": rng.integers(1, 10, rows),
        "category": pa.array(np.array(["books", "electronics", "garden", "kitchen", "toys"])[rng.integers(0, 5, rows)]),
        "returned": rng.random(rows) < 0.03,
        "event_time": pa.array(np.char.add(np.datetime_as_string(times, unit="s"), "Z")),
    })


def write_csv(path: Path, target_bytes: int, seed: int) -> int:
    rows = max(1000, target_bytes // 86)
    pacsv.write_csv(table(rows, seed), path)
    return path.stat().st_size


def write_parquet(path: Path, target_bytes: int, seed: int) -> int:
    rows = max(1000, target_bytes // 33)
    data = table(rows, seed)
    data = data.set_column(7, "event_time", data.column("event_time").cast(pa.timestamp("s", tz="UTC")))
    pq.write_table(data, path)
    return path.stat().st_size


def generate(landing: Path, size_mb: float) -> tuple[int, int]:
    """Files of about FILE_MB each until size_mb; returns (files, bytes)."""
    (landing / "csv").mkdir(parents=True)
    (landing / "parquet").mkdir(parents=True)
    total = int(size_mb * 2**20)
    per_file = min(FILE_MB * 2**20, max(total // 20, 2**20))
    written, files, seed = 0, 0, 1
    csv_target = total * CSV_SHARE
    while written < csv_target:
        written += write_csv(landing / "csv" / f"clicks-{seed:04d}.csv", per_file, seed)
        files, seed = files + 1, seed + 1
    while written < total:
        written += write_parquet(landing / "parquet" / f"clicks-{seed:04d}.parquet", per_file, seed)
        files, seed = files + 1, seed + 1
    return files, written


def raw_baseline(landing: Path, out: Path) -> float:
    out.mkdir(parents=True)
    began = time.perf_counter()
    for path in sorted((landing / "csv").glob("*.csv")):
        pq.write_table(pacsv.read_csv(path), out / f"{path.stem}.parquet")
    for path in sorted((landing / "parquet").glob("*.parquet")):
        pq.write_table(pq.read_table(path), out / f"{path.stem}.parquet")
    return time.perf_counter() - began


DUCKDB_TYPES = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMPTZ"}


def duckdb_query(relation: str, columns: dict) -> str:
    """SELECT of `relation` typed to the manifest's columns, without rows null in a non-nullable column."""
    select = ", ".join(f'CAST("{name}" AS {DUCKDB_TYPES[c.type]}) AS "{name}"' for name, c in columns.items())
    required = " AND ".join(f'"{name}" IS NOT NULL' for name, c in columns.items() if not c.nullable)
    return f"SELECT {select} FROM {relation}" + (f" WHERE {required}" if required else "")


def quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def duckdb_baseline(landing: Path, out: Path) -> float:
    """DuckDB with its defaults: one COPY ... TO ... (FORMAT PARQUET) per file, typed by the manifest."""
    import duckdb

    spec = parse_manifest(MANIFEST).spec
    csv_columns = spec.sources["clicks_csv"].columns
    parquet_columns = spec.sources["clicks_parquet"].columns
    csv_types = "{" + ", ".join(f"'{name}': '{DUCKDB_TYPES[c.type]}'" for name, c in csv_columns.items()) + "}"
    (out / "clicks_csv").mkdir(parents=True)
    (out / "clicks_parquet").mkdir(parents=True)
    con = duckdb.connect()
    try:
        began = time.perf_counter()
        for path in sorted((landing / "csv").glob("*.csv")):
            relation = f"read_csv({quoted(path)}, header = true, columns = {csv_types})"
            target = out / "clicks_csv" / f"{path.stem}.parquet"
            con.execute(f"COPY ({duckdb_query(relation, csv_columns)}) TO {quoted(target)} (FORMAT PARQUET)")
        for path in sorted((landing / "parquet").glob("*.parquet")):
            relation = f"read_parquet({quoted(path)})"
            target = out / "clicks_parquet" / f"{path.stem}.parquet"
            con.execute(f"COPY ({duckdb_query(relation, parquet_columns)}) TO {quoted(target)} (FORMAT PARQUET)")
        return time.perf_counter() - began
    finally:
        con.close()


def check_same_rows(repo_root: Path, duckdb_out: Path) -> int:
    """Fail unless the project's raw zone and DuckDB's output hold the same rows with the same types.

    Rows are compared as multisets over every column (EXCEPT ALL both ways); timestamps as instants
    (the project keeps nanoseconds, DuckDB microseconds; the generated times are whole seconds).
    Returns the number of rows.
    """
    import duckdb

    con = duckdb.connect()
    try:
        for source in ("clicks_csv", "clicks_parquet"):
            ours = pq.read_schema(next((repo_root / "raw" / source).glob("*.parquet")))
            theirs = pq.read_schema(next((duckdb_out / source).glob("*.parquet")))
            for field in ours:
                other = theirs.field(field.name)
                same = (field.type == other.type or pa.types.is_timestamp(field.type)
                        and pa.types.is_timestamp(other.type) and field.type.tz == other.type.tz)
                if not same:
                    raise SystemExit(f"{source}.{field.name}: project {field.type}, DuckDB {other.type}")
            if ours.names != theirs.names:
                raise SystemExit(f"{source}: project columns {ours.names}, DuckDB {theirs.names}")
        names = ", ".join(f'"{n}"' for n in ours.names)
        project_rows = f"SELECT {names} FROM read_parquet({quoted(repo_root / 'raw' / '*' / '*.parquet')})"
        duckdb_rows = f"SELECT {names} FROM read_parquet({quoted(duckdb_out / '*' / '*.parquet')})"
        counts = [con.execute(f"SELECT count(*) FROM ({q})").fetchone()[0] for q in (project_rows, duckdb_rows)]
        extra = con.execute(f"SELECT count(*) FROM ({project_rows} EXCEPT ALL {duckdb_rows})").fetchone()[0]
        missing = con.execute(f"SELECT count(*) FROM ({duckdb_rows} EXCEPT ALL {project_rows})").fetchone()[0]
        if counts[0] != counts[1] or extra or missing:
            raise SystemExit(f"DuckDB and the project differ: {counts[0]} vs {counts[1]} rows, {extra} rows only in "
                             f"the project's output, {missing} only in DuckDB's")
        return counts[0]
    finally:
        con.close()


def project(landing: Path, repo_root: Path, run_id: str) -> tuple[float, dict[str, int]]:
    loaded = parse_manifest(MANIFEST)
    repo = DataRepository(repo_root).init()
    began = time.perf_counter()
    counts = {"rows_in": 0, "rows_published": 0, "rows_quarantined": 0, "units_ingested": 0, "units_skipped": 0}
    for source in loaded.spec.sources:
        result = ingest_source(loaded, source, repo, landing_root=landing, run_id=run_id)
        for key in counts:
            counts[key] += getattr(result, key)
    return time.perf_counter() - began, counts


def in_child(*args: str) -> dict:
    """Run this file with `args` in a fresh interpreter (through a forking shell, so the child does
    not inherit this process's peak RSS); returns the JSON of its last line."""
    import subprocess

    out = subprocess.run(["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable, __file__, *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(command: str, first: Path, second: Path) -> None:
    if command == "duckdb":
        print(json.dumps({"seconds": duckdb_baseline(first, second)}))
    else:
        print(json.dumps({"rows": check_same_rows(first, second)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=1000)
    parser.add_argument("--tmp", type=Path, default=None, help="where to generate (default: the system temp dir)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.tmp))
    try:
        landing = work / "landing"
        began = time.perf_counter()
        files, size = generate(landing, args.size_mb)
        print(f"source: {files} files, {size / 2**20:.0f} MB (CSV {CSV_SHARE:.0%} of bytes, Parquet the rest), "
              f"generated in {time.perf_counter() - began:.1f}s in {work}", flush=True)

        raw_times, duckdb_times, project_times = [], [], []
        for attempt in (1, 2):
            gc.collect()
            raw_times.append(raw_baseline(landing, work / f"raw-{attempt}"))
            shutil.rmtree(work / f"raw-{attempt}")
            gc.collect()
            duckdb_times.append(in_child("--child", "duckdb", str(landing), str(work / f"duckdb-{attempt}"))["seconds"])
            gc.collect()
            seconds, counts = project(landing, work / f"repo-{attempt}", f"full-{attempt}")
            project_times.append(seconds)
            assert counts["rows_in"] == counts["rows_published"] + counts["rows_quarantined"], counts
            print(f"attempt {attempt}: raw {raw_times[-1]:.2f}s, DuckDB {duckdb_times[-1]:.2f}s, "
                  f"project {seconds:.2f}s ({counts['rows_in']} rows, {counts['units_ingested']} units)", flush=True)
            if attempt == 1:
                shutil.rmtree(work / f"repo-{attempt}")
                shutil.rmtree(work / f"duckdb-{attempt}")
        same = in_child("--child", "check", str(work / "repo-2"), str(work / "duckdb-2"))["rows"]
        assert same == counts["rows_published"], (same, counts)
        print(f"check: DuckDB and the project wrote the same {same} rows with the same column types", flush=True)
        shutil.rmtree(work / "duckdb-2")
        raw, duck, full_first = min(raw_times), min(duckdb_times), min(project_times)
        ratio, ratio_duckdb = raw / full_first, duck / full_first
        print(f"throughput: raw {size / 2**20 / raw:.0f} MB/s, DuckDB {size / 2**20 / duck:.0f} MB/s, "
              f"project {size / 2**20 / full_first:.0f} MB/s; ratio vs raw {ratio:.2f}, vs DuckDB {ratio_duckdb:.2f}",
              flush=True)

        # 1% new data, by bytes: one new file per format of 1% of that format's bytes.
        csv_bytes = sum(p.stat().st_size for p in (landing / "csv").glob("*.csv"))
        parquet_bytes = sum(p.stat().st_size for p in (landing / "parquet").glob("*.parquet"))
        added = write_csv(landing / "csv" / "clicks-9001.csv", csv_bytes // 100, 9001)
        added += write_parquet(landing / "parquet" / "clicks-9002.parquet", max(parquet_bytes // 100, 2**16), 9002)
        gc.collect()
        incremental, inc_counts = project(landing, work / "repo-2", "incremental")
        assert inc_counts["units_ingested"] == 2, inc_counts
        shutil.rmtree(work / "repo-2")
        gc.collect()
        full, full_counts = project(landing, work / "repo-full", "full-grown")
        assert full_counts["rows_in"] == full_counts["rows_published"] + full_counts["rows_quarantined"]
        fraction = incremental / full
        print(f"incremental: {added / 2**20:.1f} MB new ({added / (size + added):.1%} of bytes) in {incremental:.2f}s, "
              f"{inc_counts['units_skipped']} units skipped; full of the same source {full:.2f}s; "
              f"fraction {fraction:.3f}", flush=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"seconds: raw {raw:.3f}, DuckDB {duck:.3f}, project {full_first:.3f}, "
              f"incremental {incremental:.3f}, full {full:.3f}; "
              f"source {size / 2**20:.1f} MB in {files} files")
        print(json.dumps({"benchmark": "ingest", "ratio_vs_raw": round(ratio, 3),
                          "ratio_vs_duckdb": round(ratio_duckdb, 3), "incremental_fraction": round(fraction, 4),
                          "peak_rss_mb": round(peak, 1)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
