"""What an operator needs to know about its run, read the same way by every operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    interval_start: datetime
    interval_end: datetime

    @property
    def interval_key(self) -> str:
        """A name for the data interval that is safe in file names, tags and job names."""
        return self.interval_end.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_info(context: Context) -> RunInfo:
    """The run's data interval; a manual run may have none, so fall back to its run_after."""
    dag_run = context["dag_run"]
    end = context.get("data_interval_end") or getattr(dag_run, "run_after", None) or context["logical_date"]
    start = context.get("data_interval_start") or end
    return RunInfo(dag_id=dag_run.dag_id, run_id=dag_run.run_id, interval_start=start, interval_end=end)
