"""bench/growth.py at a tiny size: each daily run is a child process that ingests, validates,
snapshots and exports its day, and the figures it prints add up (no timing is asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_growth_runs_each_day_and_reports_its_ratios(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH / "growth.py"), "--days", "2", "--rows-per-day", "3000",
                           "--dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["benchmark"] == "growth" and (result["days"], result["rows_per_day"]) == (2, 3000)
    for key in ("time_ratio_30_vs_1", "bytes_added_ratio", "rss_ratio_30_vs_1", "bytes_added_vs_partitions"):
        assert result[key] > 0
    # Each run reads and publishes only its own day: its bytes added exceed its new raw partition.
    runs = [line.split() for line in lines if re.match(r"\s*\d+\s+\d+\.\d+\s", line)]
    assert [r[0] for r in runs] == ["1", "2"]
    assert all(float(r[-1]) > 1 for r in runs)
    assert not list(tmp_path.iterdir()), "the work folder was not removed"
