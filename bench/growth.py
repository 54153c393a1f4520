"""Benchmark: does a daily run cost the same on day 30 as on day 1?

Consecutive daily intervals of the bundled `events` source (its columns and rules; one Parquet file a
day, about 0.1% of the rows breaking a rule) go through what the ingest side of the pipeline does for
a day: ingestion of the interval, validation, a snapshot of the repository (as the validated
snapshot does, without a remote) and the feature tables' export (a feature view of user activity over
the events). Each run is a fresh interpreter, as an Airflow task is, so its peak RSS is its own;
imports are not timed. Before each run the day's file is written to the landing folder (not timed).

Per run it prints the wall time of each stage and in all, the peak RSS, and the bytes the run added to
the repository (every file under it, each inode counted once, so hard-linked versions are not
counted twice: the zones, `.objects/`, the DVC cache and git's objects), next to the bytes of the
day's new Parquet file in raw/. Targets: run N within 1.3 x the time of run 1; bytes added per run
within 1.5 x the day's new Parquet bytes; peak RSS flat (run N within 1.2 x run 1). It also prints the
bytes added against the bytes of the run's own partitions (raw, validated, quarantined): what a
repository that keeps both raw and validated rows cannot go below.

Usage: python bench/growth.py [--days 30] [--rows-per-day 1000000] [--dir DIR] [--keep]
The last line is JSON: {"benchmark": "growth", "time_ratio_30_vs_1": ..., "bytes_added_ratio": ...,
"rss_ratio_30_vs_1": ...} (the keys name run N and run 1 as 30 and 1 whatever --days is; bytes_added_ratio
is run N's bytes added over its day's new Parquet bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
FIRST_DAY = datetime(2026, 9, 1, tzinfo=UTC)
MANIFEST = """\
version: 1
name: growth
sources:
  events:
    type: file
    owner: bench
    location: {path: events, pattern: "events-*.parquet", format: parquet, date_in_name: "%Y-%m-%d"}
    keys: [event_id]
    event_time: event_time
    max_quarantine_fraction: 0.01
    columns:
      event_id: {type: str, nullable: false, unique: true, pattern: "^E[0-9]{9}$"}
      user_id: {type: int, nullable: false, min: 1}
      product_id: {type: int, nullable: false, min: 1}
      event_type: {type: str, nullable: false, allowed: [view, add_to_cart, purchase]}
      quantity: {type: int, nullable: false, min: 1, max: 100}
      event_time: {type: timestamp, nullable: false}
features:
  project: growth
  entities:
    user: {join_key: user_id}
  feature_views:
    user_activity:
      source: events
      entity: user
      timestamp: event_time
      features: [product_id, event_type, quantity]
      ttl_days: 30
"""


def write_day(landing: Path, day: int, rows: int) -> Path:
    """Day `day`'s events (ids continue across days), about 0.1% with a quantity out of range."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(day)
    start = FIRST_DAY + timedelta(days=day)
    quantity = rng.integers(1, 6, rows)
    quantity[rng.random(rows) < 0.001] = 0
    frame = pd.DataFrame({
        "event_id": [f"E{day * rows + i:09d}" for i in range(rows)],
        "user_id": rng.integers(1, 100_001, rows),
        "product_id": rng.integers(1, 5_001, rows),
        "event_type": rng.choice(["view", "add_to_cart", "purchase"], rows, p=[0.8, 0.15, 0.05]),
        "quantity": quantity,
        "event_time": pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.integers(0, 86_400_000, rows)), unit="ms"),
    })
    folder = landing / "events"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"events-{start:%Y-%m-%d}.parquet"
    frame.to_parquet(path, index=False)
    return path


def disk_bytes(root: Path) -> int:
    """Bytes of every file under root, each inode once (hard links are one file on disk)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def run_day(home: Path, day: int) -> dict:
    """One daily run, as the pipeline's tasks do it, timed stage by stage (in this process)."""
    import resource

    from datacentric.features import export_feature_tables
    from datacentric.manifest import load_manifest
    from datacentric.repository import DataRepository
    from datacentric.sources.base import Window
    from datacentric.sources.ingest import ingest_source
    from datacentric.validation.gate import validate_stage
    from datacentric.versioning import Versioner, snapshot_stage

    loaded = load_manifest(home / "manifest.yaml")
    start = FIRST_DAY + timedelta(days=day)
    run_id = f"scheduled__{start.isoformat()}"
    times: dict[str, float] = {}
    began = time.perf_counter()
    repo = DataRepository(home / "repository").init()
    ingested = ingest_source(loaded, "events", repo, landing_root=home / "landing", run_id=run_id,
                             window=Window(start, start + timedelta(days=1)))
    times["ingest"] = time.perf_counter() - began
    mark = time.perf_counter()
    summary = validate_stage(loaded, "events", repo, gx_root=home / "gx", run_id=run_id)
    if not summary["success"]:
        raise SystemExit(f"day {day}: {summary['message']}")
    times["validate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    key = f"{start + timedelta(days=1):%Y%m%dT%H%M%SZ}"
    snap = snapshot_stage(loaded, "validated", dag_id="growth", interval_key=key, run={"run_id": run_id},
                          versioner=Versioner(repo.root), repository=repo)
    times["snapshot"] = time.perf_counter() - mark
    mark = time.perf_counter()
    export_feature_tables(loaded.spec, repo, run_id=run_id)
    times["features"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - began
    return {"day": day, "times": times, "rows_in": ingested.rows_in, "rows_validated": summary["rows_in"],
            "rows_quarantined": ingested.rows_quarantined + summary["rows_quarantined"],
            "data_state_id": snap.data_state_id,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_day(Path(args.child[0]), int(args.child[1]))))
        return
    if args.days < 2:
        raise SystemExit("--days must be at least 2")

    home = Path(tempfile.mkdtemp(prefix="bench-growth-", dir=args.dir))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "include"), os.environ.get("PYTHONPATH", "")]),
           "GIT_PYTHON_REFRESH": "quiet"}
    try:
        (home / "manifest.yaml").write_text(MANIFEST, encoding="utf-8")
        runs = []
        print(f"{args.days} daily runs of {args.rows_per_day:,} events each in {home}")
        print(f"{'run':>4} {'ingest':>7} {'validate':>8} {'snapshot':>8} {'features':>8} {'total':>7} s  "
              f"{'peak RSS':>9}  {'added':>10}  {'new data':>10}  ratio")
        for day in range(args.days):
            write_day(home / "landing", day, args.rows_per_day)
            before = disk_bytes(home / "repository") if (home / "repository").exists() else 0
            child = subprocess.run([sys.executable, __file__, "--child", str(home), str(day)], env=env,
                                   capture_output=True, text=True)
            if child.returncode != 0:
                raise SystemExit(f"run {day + 1} failed:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}")
            result = json.loads(child.stdout.strip().splitlines()[-1])
            unit = f"events-{FIRST_DAY + timedelta(days=day):%Y-%m-%d}.parquet"
            zones = home / "repository"
            result["new_parquet_bytes"] = (zones / "raw" / "events" / unit).stat().st_size
            # The day's partitions in every zone: its raw file, its validated and quarantined rows.
            result["new_partition_bytes"] = sum(p.stat().st_size for p in (
                zones / "raw" / "events" / unit, zones / "validated" / "events" / unit,
                zones / "quarantine" / "events" / "validate" / unit) if p.exists())
            result["bytes_added"] = disk_bytes(home / "repository") - before
            runs.append(result)
            t = result["times"]
            ratio = result["bytes_added"] / result["new_parquet_bytes"]
            print(f"{day + 1:>4} {t['ingest']:>7.2f} {t['validate']:>8.2f} {t['snapshot']:>8.2f} {t['features']:>8.2f} "
                  f"{t['total']:>7.2f}    {result['peak_rss_mb']:>6.0f} MB  {result['bytes_added'] / 1e6:>7.1f} MB  "
                  f"{result['new_parquet_bytes'] / 1e6:>7.1f} MB  {ratio:.2f}", flush=True)
        first, last = runs[0], runs[-1]
        time_ratio = last["times"]["total"] / first["times"]["total"]
        bytes_ratio = last["bytes_added"] / last["new_parquet_bytes"]
        rss_ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
        partition_ratio = last["bytes_added"] / last["new_partition_bytes"]
        for label, run in (("1", first), (str(min(10, args.days)), runs[min(10, args.days) - 1]),
                           (str(args.days), last)):
            print(f"run {label}: {run['times']['total']:.2f} s, peak {run['peak_rss_mb']:.0f} MB, "
                  f"{run['bytes_added'] / 1e6:.1f} MB added for {run['new_parquet_bytes'] / 1e6:.1f} MB of new data")
        stages = {k: last["times"][k] / first["times"][k] for k in ("ingest", "validate", "snapshot", "features")}
        print("run N / run 1 per stage: " + ", ".join(f"{k} {v:.2f}x" for k, v in stages.items()))
        print(f"targets: time {time_ratio:.2f}x (<= 1.3), bytes added {bytes_ratio:.2f}x new data (<= 1.5), "
              f"peak RSS {rss_ratio:.2f}x (<= 1.2)")
        print(f"run N added {partition_ratio:.2f}x the bytes of its own partitions (raw + validated + quarantined: "
              "the floor of a repository that keeps both raw and validated rows is about 2x the raw bytes)")
        print(json.dumps({"benchmark": "growth", "time_ratio_30_vs_1": round(time_ratio, 3),
                          "bytes_added_ratio": round(bytes_ratio, 3), "rss_ratio_30_vs_1": round(rss_ratio, 3),
                          "bytes_added_vs_partitions": round(partition_ratio, 3),
                          "days": args.days, "rows_per_day": args.rows_per_day,
                          "stage_ratios": {k: round(v, 3) for k, v in stages.items()}}))
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
