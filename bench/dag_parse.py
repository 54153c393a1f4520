"""How long each DAG file takes to parse, against a bare interpreter with Airflow loaded.

Each measurement is a fresh interpreter: the baseline imports airflow.sdk and warms Airflow's provider
discovery (shared by every DAG file in a DAG processor); the measured run does the same and then
parses the DAG file. Prints per file the median extra seconds over 5 runs and the ratio of the whole
run to the baseline; the last line is JSON.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[1] / "dags"
PROBE = """
import sys, time, runpy
start = time.perf_counter()
import airflow.sdk
from airflow.sdk import Asset
Asset(name="warm", uri="datacentric://warm/up")
if len(sys.argv) > 1:
    runpy.run_path(sys.argv[1])
print(time.perf_counter() - start)
"""


def measure(*args: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    baseline = measure()
    results = {}
    for dag_file in sorted(DAGS.glob("*.py")):
        seconds = measure(str(dag_file))
        results[dag_file.name] = {"extra_seconds": round(seconds - baseline, 3), "ratio": round(seconds / baseline, 3)}
        print(f"{dag_file.name}: +{seconds - baseline:.3f}s over a bare interpreter ({baseline:.2f}s), "
              f"ratio {seconds / baseline:.2f}")
    worst = max(r["extra_seconds"] for r in results.values())
    print(json.dumps({"benchmark": "dag_parse", "baseline_seconds": round(baseline, 3),
                      "worst_extra_seconds": worst, "files": results}))


if __name__ == "__main__":
    main()
