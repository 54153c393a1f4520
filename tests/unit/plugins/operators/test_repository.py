"""The recovery, diff and catalog operators work on the repository the hook builds from the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.repository import (
    DiffRepositoryOperator,
    RecoverRepositoryOperator,
    RenderCatalogOperator,
)


def _day(d: int) -> datetime:
    return datetime(2026, 10, d, tzinfo=UTC)


def _context(start: datetime | None, end: datetime | None, run_id: str = "scheduled__x") -> dict:
    dag_run = SimpleNamespace(dag_id="d", run_id=run_id, run_after=_day(28))
    return {"dag_run": dag_run, "logical_date": end, "data_interval_start": start, "data_interval_end": end}


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
