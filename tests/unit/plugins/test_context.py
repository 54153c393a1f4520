from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from datacentric_airflow.context import run_info


def _ctx(**kwargs):
    dag_run = SimpleNamespace(dag_id="d", run_id="manual__x", run_after=datetime(2026, 11, 1, 12, tzinfo=UTC))
    return {"dag_run": dag_run, "logical_date": None, **kwargs}


def test_scheduled_run_uses_its_data_interval() -> None:
    start, end = datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)
    info = run_info(_ctx(data_interval_start=start, data_interval_end=end))
    assert (info.interval_start, info.interval_end, info.interval_key) == (start, end, "20261031T000000Z")


def test_manual_run_without_interval_falls_back_to_run_after() -> None:
    info = run_info(_ctx(data_interval_start=None, data_interval_end=None))
    assert info.interval_end == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert info.interval_key == "20261101T120000Z"
    assert info.run_id == "manual__x"
