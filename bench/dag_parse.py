"""How long each DAG file takes to parse, against a bare interpreter with Airflow loaded.

Each measurement is a fresh interpreter: the baseline imports airflow.sdk and warms Airflow's provider
discovery (shared by every DAG file in a DAG processor); the measured run does the same and then
parses the DAG file. The runs go in rounds (`--repeat`, default 5): a baseline, then every DAG file,
so each file is compared with the baseline run just before it, under the same machine load (the
machine may be shared). Per file it prints the median over the rounds of the extra seconds over the
round's baseline, in wall time and in CPU time (the probe's own process time, which other processes
on the machine do not inflate), with the range over the rounds, and the ratio of the median run to
the median baseline; the last line is JSON: {"benchmark": "dag_parse", "baseline_seconds", "baseline_cpu_seconds",
"worst_extra_seconds", "worst_extra_cpu_seconds", "files": {name: {"extra_seconds",
"extra_cpu_seconds", "ratio"}}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[1] / "dags"
PROBE = """
import sys, time, runpy
start, cpu = time.perf_counter(), time.process_time()
import airflow.sdk
from airflow.sdk import Asset
Asset(name="warm", uri="datacentric://warm/up")
if len(sys.argv) > 1:
    runpy.run_path(sys.argv[1])
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def probe(*args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter loading Airflow (and parsing a DAG file)."""
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (a baseline, then every DAG file)")
    args = parser.parse_args()
    files = sorted(DAGS.glob("*.py"))
    baselines: list[tuple[float, float]] = []
    runs: dict[str, list[tuple[float, float]]] = {f.name: [] for f in files}
    extra: dict[str, list[tuple[float, float]]] = {f.name: [] for f in files}
    for _ in range(args.repeat):
        base = probe()
        baselines.append(base)
        for dag_file in files:
            seconds = probe(str(dag_file))
            runs[dag_file.name].append(seconds)
            extra[dag_file.name].append((seconds[0] - base[0], seconds[1] - base[1]))
    baseline = statistics.median(b[0] for b in baselines)
    baseline_cpu = statistics.median(b[1] for b in baselines)
    print(f"bare interpreter with Airflow loaded: {baseline:.2f}s wall, {baseline_cpu:.2f}s CPU "
          f"(median of {args.repeat}; from {min(b[0] for b in baselines):.2f} to {max(b[0] for b in baselines):.2f}s "
          "wall)")
    results = {}
    for name in runs:
        wall = statistics.median(e[0] for e in extra[name])
        cpu = statistics.median(e[1] for e in extra[name])
        ratio = statistics.median(r[0] for r in runs[name]) / baseline
        results[name] = {"extra_seconds": round(wall, 3), "extra_cpu_seconds": round(cpu, 3), "ratio": round(ratio, 3)}
        spread = (min(e[0] for e in extra[name]), max(e[0] for e in extra[name]),
                  min(e[1] for e in extra[name]), max(e[1] for e in extra[name]))
        print(f"{name}: {wall:+.3f}s wall, {cpu:+.3f}s CPU over the round's bare interpreter (rounds from "
              f"{spread[0]:+.3f} to {spread[1]:+.3f}s wall, {spread[2]:+.3f} to {spread[3]:+.3f}s CPU); "
              f"ratio {ratio:.2f}")
    print(json.dumps({"benchmark": "dag_parse", "baseline_seconds": round(baseline, 3),
                      "baseline_cpu_seconds": round(baseline_cpu, 3),
                      "worst_extra_seconds": max(r["extra_seconds"] for r in results.values()),
                      "worst_extra_cpu_seconds": max(r["extra_cpu_seconds"] for r in results.values()),
                      "files": results}))


if __name__ == "__main__":
    main()
