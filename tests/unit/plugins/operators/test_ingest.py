"""IngestSourceOperator passes the run's window down: a scheduled run ingests its data interval, a manual
run catches up, and window Params override both."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException
from datacentric.repository.store import DataRepository
from datacentric_airflow.operators.ingest import IngestSourceOperator


def _day(d: int) -> datetime:
    return datetime(2026, 10, d, tzinfo=UTC)


def _context(start: datetime | None, end: datetime | None, run_id: str = "scheduled__x") -> dict:
    dag_run = SimpleNamespace(dag_id="d", run_id=run_id, run_after=_day(28))
    return {"dag_run": dag_run, "logical_date": end, "data_interval_start": start, "data_interval_end": end}


def _ingested(tmp_path: Path) -> list[str]:
    return sorted(p.stem for p in DataRepository(tmp_path / "var" / "repository").files("raw", "events"))


class TestIngestSourceOperator:
    def test_a_run_with_a_data_interval_ingests_exactly_it(self, deployment: Path, tmp_path: Path) -> None:
        op = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events")
        result = op.execute(_context(_day(2), _day(4)))
        assert result["window"] == {"start": "2026-10-02T00:00:00+00:00", "end": "2026-10-04T00:00:00+00:00"}
        assert _ingested(tmp_path) == ["events-2026-10-02", "events-2026-10-03"]
        assert result["rows_in"] == result["rows_published"] + result["rows_quarantined"] == 2

    def test_a_run_with_an_empty_interval_catches_up_to_its_date(self, deployment: Path, tmp_path: Path) -> None:
        op = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events")
        result = op.execute(_context(_day(5), _day(5)))  # a cron trigger timetable: start == end
        assert result["window"]["start"] is None
        assert _ingested(tmp_path) == [f"events-2026-10-0{d}" for d in range(1, 5)]

    def test_window_params_override_the_interval(self, deployment: Path, tmp_path: Path) -> None:
        op = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events",
                                  window_start="2026-10-05", window_end="2026-10-06T00:00:00Z")
        op.execute(_context(_day(1), _day(2)))
        assert _ingested(tmp_path) == ["events-2026-10-05"]
        bad = IngestSourceOperator(task_id="ingest", manifest=str(deployment), source="events",
                                   window_start="yesterday")
        with pytest.raises(AirflowFailException, match="window_start: 'yesterday' is not an ISO date"):
            bad.execute(_context(None, _day(2)))
