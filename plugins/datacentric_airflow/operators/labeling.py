"""Labeling rounds and the consolidation of their votes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.hooks.repository import DataRepositoryHook


class LabelingRoundOperator(BaseOperator):
    """Select the items that need labels and send them to the label task's backend.

    The job name is derived from the run, so a retry reuses the job (and its votes) instead of
    paying for a second one. Returns the job name and counts.

    :param manifest: path of the manifest YAML (templated)
    """

    template_fields: Sequence[str] = ("manifest",)
    ui_color = "#f3e8ff"

    def __init__(self, *, manifest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.labeling.rounds import job_name_for, run_round
        from datacentric.manifest import load_manifest

        info = run_info(context)
        loaded = load_manifest(self.manifest)
        hook = DataRepositoryHook()
        task = loaded.spec.label_task
        if task is None:
            raise ValueError(f"{loaded.path}: the manifest has no label_task")
        job_name = job_name_for(task.name, info.interval_key)
        result = run_round(loaded, hook.get_repository(), landing_root=hook.settings.landing_root,
                           job_name=job_name, run_id=info.run_id)
        self.log.info("labeling job %s (%s backend%s): %d items, %d votes%s", job_name, task.backend,
                      ", a simulation" if task.backend == "simulated" else "", result.items, result.votes,
                      " (reused)" if result.reused else "")
        return result.as_dict()


class ConsolidateLabelsOperator(BaseOperator):
    """Consolidate a labeling job's votes into one label and a confidence per item.

    :param manifest: path of the manifest YAML (templated)
    :param job_name: the labeling job to consolidate (templated; usually from the round's XCom)
    """

    template_fields: Sequence[str] = ("manifest", "job_name")
    ui_color = "#f3e8ff"

    def __init__(self, *, manifest: str, job_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.job_name = job_name

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.labeling.rounds import consolidate_round
        from datacentric.manifest import load_manifest

        info = run_info(context)
        result = consolidate_round(load_manifest(self.manifest), DataRepositoryHook().get_repository(),
                                   job_name=self.job_name, run_id=info.run_id, created_at=info.interval_end)
        self.log.info("job %s: %d items labeled by %s; votes in %d = used %d + rejected %d; %d under the "
                      "confidence threshold", result.job_name, result.items, result.method, result.votes_in,
                      result.votes_used, result.votes_rejected, result.low_confidence)
        return result.as_dict()
