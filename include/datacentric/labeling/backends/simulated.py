"""The simulated workforce as a labeling backend, for the demo, tests and benchmarks.

Named as a simulation everywhere: its votes come from the sample generator's truth file through
annotators with known confusion matrices (`datacentric.labeling.simulated`), not from people. A
simulated job completes the moment it is submitted, and its votes depend only on the seed and the
items, so collecting twice gives the same votes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datacentric.errors import LabelingError
from datacentric.labeling.backends.base import (
    REJECTED_COLUMNS,
    CollectedVotes,
    JobHandle,
    JobStatus,
    LabelingBackend,
)
from datacentric.labeling.simulated import SimulatedWorkforce


class SimulatedBackend(LabelingBackend):
    """Votes from a simulated crowd. Resources: `landing_root`, the folder the truth file is under."""

    type = "simulated"

    def _truth(self, items: pd.DataFrame) -> pd.DataFrame:
        task, sim = self.task, self.config
        landing_root = Path(self._resource("landing_root"))
        truth_path = (landing_root / sim.truth).resolve()
        if not truth_path.exists():
            raise LabelingError(f"label task {task.name!r}: simulation truth file {truth_path} not found")
        truth = pd.read_csv(truth_path, dtype=str)
        if task.item_key not in truth.columns or "label" not in truth.columns:
            raise LabelingError(f"{truth_path}: expected the columns {task.item_key!r} and 'label', "
                                f"found {', '.join(truth.columns)}")
        truth = truth.rename(columns={task.item_key: "task", "label": "truth"})[["task", "truth"]]
        with_truth = items.assign(task=items["task"].astype(str)).merge(truth, on="task", how="left")
        missing = with_truth["truth"].isna()
        if missing.any():
            raise LabelingError(
                f"{truth_path}: no simulated truth for {int(missing.sum())} item(s), "
                f"e.g. {with_truth.loc[missing, 'task'].iloc[0]}"
            )
        return with_truth

    def submit(self, job_name: str, items: pd.DataFrame) -> JobHandle:
        self._truth(items)  # a missing truth file fails the round when it starts, not later
        return JobHandle(job_name, job_id=f"simulated/{job_name}")

    def status(self, job_name: str) -> JobStatus:
        return JobStatus(job_name, "completed")

    def collect(self, job_name: str, items: pd.DataFrame) -> CollectedVotes:
        workforce = SimulatedWorkforce.for_task(self.task)
        votes = workforce.annotate(self._truth(items), votes_per_item=self.task.workers_per_item)
        votes = votes.astype({"task": str, "worker": str, "label": str})
        return CollectedVotes(votes, pd.DataFrame(columns=list(REJECTED_COLUMNS), dtype=object),
                              annotators=workforce.workers)
