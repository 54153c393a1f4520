"""The ingest operator passes the run's window down; the recovery, diff and catalog operators work on the
repository the hook builds from the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from datacentric.repository.store import DataRepository
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.repository import (
    DiffRepositoryOperator,
    RecoverRepositoryOperator,
    RenderCatalogOperator,
)

MANIFEST = """\
name: ops
sources:
  events:
    type: file
    owner: me
    location: {path: events, pattern: "*.csv", format: csv, date_in_name: "%Y-%m-%d"}
    keys: [id]
    columns:
      id: {type: int, nullable: false}
"""


def _day(d: int) -> datetime:
    return datetime(2026, 10, d, tzinfo=UTC)


def _context(start: datetime | None, end: datetime | None, run_id: str = "scheduled__x") -> dict:
    dag_run = SimpleNamespace(dag_id="d", run_id=run_id, run_after=_day(28))
    return {"dag_run": dag_run, "logical_date": end, "data_interval_start": start, "data_interval_end": end}


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATACENTRIC_VAR", str(tmp_path / "var"))
    landing = tmp_path / "var" / "landing" / "events"
    landing.mkdir(parents=True)
    for d in range(1, 6):
        (landing / f"events-2026-10-0{d}.csv").write_text(f"id\n{d}\n")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    return manifest


def _ingested(tmp_path: Path) -> list[str]:
    return sorted(p.stem for p in DataRepository(tmp_path / "var" / "repository").files("raw", "events"))


def test_a_run_with_a_data_interval_ingests_exactly_it(deployment: Path, tmp_path: Path) -> None:
    op = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events")
    result = op.execute(_context(_day(2), _day(4)))
    assert result["window"] == {"start": "2026-10-02T00:00:00+00:00", "end": "2026-10-04T00:00:00+00:00"}
    assert _ingested(tmp_path) == ["events-2026-10-02", "events-2026-10-03"]
    assert result["rows_in"] == result["rows_published"] + result["rows_quarantined"] == 2


def test_a_run_with_an_empty_interval_catches_up_to_its_date(deployment: Path, tmp_path: Path) -> None:
    op = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events")
    result = op.execute(_context(_day(5), _day(5)))  # a cron trigger timetable: start == end
    assert result["window"]["start"] is None
    assert _ingested(tmp_path) == [f"events-2026-10-0{d}" for d in range(1, 5)]


def test_window_params_override_the_interval(deployment: Path, tmp_path: Path) -> None:
    op = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events",
                              window_start="2026-10-05", window_end="2026-10-06T00:00:00Z")
    op.execute(_context(_day(1), _day(2)))
    assert _ingested(tmp_path) == ["events-2026-10-05"]
    bad = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events", window_start="yesterday")
    with pytest.raises(ValueError, match="window_start: 'yesterday' is not an ISO date"):
        bad.execute(_context(None, _day(2)))


def test_recover_diff_and_catalog_operators(deployment: Path, tmp_path: Path) -> None:
    IngestSourceOperator(task_id="i", manifest=str(deployment), source="events").execute(
        _context(_day(1), _day(3), run_id="first"))
    IngestSourceOperator(task_id="i", manifest=str(deployment), source="events").execute(
        _context(_day(3), _day(6), run_id="second"))

    summary = RecoverRepositoryOperator(task_id="recover", point="run:first", source="events").execute(
        _context(None, _day(6), run_id="manual__2026-10-06T00:00:00+00:00"))
    dest = tmp_path / "var" / "recovered" / "manual__2026-10-06T00_00_00_00_00"
    assert summary["dest"] == str(dest)
    assert sorted(p.stem for p in (dest / "raw" / "events").glob("*.parquet")) == ["events-2026-10-01",
                                                                                 "events-2026-10-02"]
    report = DiffRepositoryOperator(task_id="diff", before="run:first", after="now", source="").execute({})
    raw = [c for c in report["changes"] if c["zone"] == "raw"]
    assert [(c["source"], len(c["files_added"]), c["rows_added"]) for c in raw] == [("events", 3, 3)]
    json.dumps(report)  # fits in XCom

    out = RenderCatalogOperator(task_id="catalog", manifest=str(deployment)).execute({})
    assert out == str(tmp_path / "var" / "catalog" / "ops.html")
    assert "id='src-events'" in Path(out).read_text()
