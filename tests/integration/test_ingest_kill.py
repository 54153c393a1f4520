"""Kill an ingestion with SIGKILL in the middle of a write: nothing half-written is visible, the change log
still reads, and the retry completes the job (then a second retry changes nothing).

The ingestion runs in a subprocess. It is stopped at a known place, deterministically: a hook in the
child writes half of the third raw file (or half of its change-log line), tells the parent, and waits
for the kill."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source

pytestmark = pytest.mark.integration

MANIFEST = """\
name: kill
sources:
  events:
    type: file
    owner: me
    location: {path: events, pattern: "*.csv", format: csv}
    keys: [event_id]
    columns:
      event_id: {type: int, nullable: false}
      amount: {type: float}
      at: {type: timestamp}
"""

CHILD = r"""
import os, sys, time
from pathlib import Path
import datacentric.repository.store as repository
from datacentric.sources.ingest import ingest_source
from datacentric.manifest import parse_manifest

root, landing, marker, where, manifest = sys.argv[1:6]
seen = {"n": 0}

def stall(note):
    Path(marker).write_text(note)
    time.sleep(600)  # killed here

if where == "data":
    real = repository.write_temporary
    def half_written(target, data):
        if "/raw/" in str(target):
            seen["n"] += 1
            if seen["n"] == 3:
                tmp = target.with_name(f".{target.name}.{repository.host_name()}.{os.getpid()}.dead.tmp")
                with open(tmp, "wb") as handle:
                    handle.write(bytes(memoryview(data)[: len(data) // 2]))
                    handle.flush()
                    os.fsync(handle.fileno())
                stall(str(tmp))
        return real(target, data)
    repository.write_temporary = half_written
else:
    real_append = repository.DataRepository._append
    def torn(self, record):
        if record.path.startswith("raw/"):
            seen["n"] += 1
            if seen["n"] == 3:
                with (self.root / repository.CHANGELOG).open("ab") as handle:
                    handle.write(b'{"op": "add", "path": "' + record.path.encode()[:10])
                    handle.flush()
                stall(record.path)
        return real_append(self, record)
    repository.DataRepository._append = torn

ingest_source(parse_manifest(manifest), "events", repository.DataRepository(root).init(),
              landing_root=Path(landing), run_id="killed")
"""


def _landing(tmp_path: Path) -> tuple[Path, int]:
    landing = tmp_path / "landing"
    (landing / "events").mkdir(parents=True)
    total = 0
    for day in range(1, 9):
        rows = [f"{day * 100_000 + i},{i * 0.5},2026-10-0{day}T00:00:00Z" for i in range(20_000)]
        rows[day] = f"{day}-bad,oops,never"  # one bad row per file: every unit also has a quarantine file
        (landing / "events" / f"events-2026-10-0{day}.csv").write_text("event_id,amount,at\n" + "\n".join(rows) + "\n")
        total += len(rows)
    return landing, total


def _visible(repo: DataRepository) -> dict[str, str]:
    """Every file a reader of the zones can see, with its sha256; each must be a whole Parquet file."""
    out = {}
    for zone in ("raw", "quarantine"):
        for path in repo.files(zone, "events"):
            pq.read_metadata(path)  # raises on a partial file
            out[repo.relative(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("where", ["data", "log"], ids=["mid data file", "mid change-log line"])
def test_killed_ingestion_leaves_nothing_half_written_and_the_retry_completes(tmp_path: Path, where: str) -> None:
    landing, total = _landing(tmp_path)
    root, marker = tmp_path / "repo", tmp_path / "stalled"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(landing), str(marker), where, MANIFEST],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None:
            pytest.fail(f"the ingestion ended before it was killed: {child.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the ingestion never reached the third raw file")
        time.sleep(0.05)
    time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    repo = DataRepository(root)
    visible = _visible(repo)
    live = {path: record.sha256 for path, record in repo.live().items() if not path.startswith("state/")}
    assert all(visible.get(path) == sha for path, sha in live.items()), "a logged file is missing or differs"
    raw_logged = sorted(p for p in live if p.startswith("raw/"))
    assert len(raw_logged) == 2  # the first two units are complete; the third was cut
    if where == "data":
        stalled = Path(marker.read_text())
        assert stalled.exists() and stalled.name.startswith(".") and stalled.name.endswith(".tmp")
        assert set(visible) == set(live)  # the half-written file is hidden: no reader sees it
    else:
        # The third file was renamed into place (whole) but its log line was cut: it is visible, not logged.
        assert set(visible) - set(live) == {marker.read_text()}
        assert not (root / "changelog.jsonl").read_bytes().endswith(b"\n")

    retry = ingest_source(parse_manifest(MANIFEST), "events", DataRepository(root).init(), landing_root=landing,
                          run_id="retry")
    assert retry.rows_in == retry.rows_published + retry.rows_quarantined
    assert retry.units_skipped == 2 and retry.units_ingested == 6
    repo = DataRepository(root)
    visible = _visible(repo)
    live = {path: record.sha256 for path, record in repo.live().items() if not path.startswith("state/")}
    assert visible == live  # every visible file is logged with its checksum, and the other way round
    assert not list(root.rglob("*.tmp"))  # the dead writer's temporary was swept
    raw_rows = sum(len(pd.read_parquet(root / p)) for p in live if p.startswith("raw/"))
    quarantined = sum(len(pd.read_parquet(root / p)) for p in live if p.startswith("quarantine/"))
    assert (raw_rows, quarantined) == (total - 8, 8)  # rows in = published + quarantined, over both runs
    assert (root / "changelog.jsonl").read_bytes().endswith(b"\n") and len(repo.changelog()) > 0

    log = (root / "changelog.jsonl").read_bytes()
    again = ingest_source(parse_manifest(MANIFEST), "events", DataRepository(root).init(), landing_root=landing,
                          run_id="retry-2")
    assert (again.units_ingested, again.units_skipped) == (0, 8)
    assert (root / "changelog.jsonl").read_bytes() == log
