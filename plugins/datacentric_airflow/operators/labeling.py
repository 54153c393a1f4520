"""Labeling rounds and the consolidation of their votes."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from datacentric_airflow.context import run_info
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.hooks.repository import DataRepositoryHook
from datacentric_airflow.links.labeling import LabelQualityReportLink

if TYPE_CHECKING:
    from airflow.sdk import Context


class LabelingRoundOperator(BaseOperator):
    """Select the items that need labels and have them labeled, N votes each, by a labeling backend.

    The backend is the label task's (`backend:` in the manifest) unless `backend` names another. The
    simulated workforce answers at once. SageMaker Ground Truth and Label Studio take hours or days:
    the operator starts the job, logs its id and link, and defers to the backend's trigger; when the
    job completes, `execute_complete` collects every vote into the labels zone, and raises unless the
    job succeeded. With `deferrable=False` it waits as a sensor in reschedule mode does: each try
    checks the job and, while it runs, gives its worker slot back until the next check
    (up for reschedule), failing once `max_wait_hours` have passed since the first try.

    The job name is derived from the run: a retry finds the items it published and the job it
    started before (Ground Truth job, Label Studio project) instead of paying for a second one, and
    a round whose votes are in the zone is reused. Returns the job name, state and counts.

    :param manifest: path of the manifest YAML (templated)
    :param backend: simulated, ground_truth or label_studio instead of the manifest's (templated;
        empty: the manifest's)
    :param deferrable: wait for the job in the triggerer (True) or by rescheduling the task (False)
    :param poll_interval: seconds between two status checks (default: the backend block's
        poll_interval_seconds)
    """

    template_fields: Sequence[str] = ("manifest", "backend")
    ui_color = "#f3e8ff"
    backend_type: str | None = None  # an operator for one service fixes its backend
    conn_id: str | None = None  # an operator for one service may override the manifest's connection

    def __init__(self, *, manifest: str, backend: str = "", deferrable: bool = True,
                 poll_interval: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.backend = backend
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.labeling.rounds import finish_round, start_round

        info = run_info(context)
        loaded, task, backend_type, job_name = self._round(info)
        repo = DataRepositoryHook().get_repository()
        backend = self.get_labeling_backend(task, backend_type)
        result = start_round(loaded, repo, backend, job_name=job_name, run_id=info.run_id)
        if result.job_id:
            self.log.info("labeling job %s on %s%s: id %s, %d items%s%s", job_name, backend_type,
                          " (a simulation)" if backend_type == "simulated" else "", result.job_id, result.items,
                          " (started by an earlier try)" if result.reused else "",
                          f"; follow it at {result.url}" if result.url else "")
        if result.state == "collected":
            return self._collected(result)
        for message in result.messages:
            self.log.info("labeling job %s: %s", job_name, message)
        if result.state == "failed":
            raise AirflowException(f"{backend_type} labeling job {job_name}: {'; '.join(result.messages)}")
        if result.state == "in_progress":
            config = _backend_config(task, backend_type)
            poll = self.poll_interval or config.poll_interval_seconds
            if self.deferrable:
                self.defer(trigger=_service(backend_type).labeling_trigger(job_name, config, self.conn_id, poll),
                           method_name="execute_complete", timeout=timedelta(hours=config.max_wait_hours))
            self._reschedule(context, job_name, poll, timedelta(hours=config.max_wait_hours))
        return self._collected(finish_round(loaded, repo, backend, job_name=job_name, run_id=info.run_id))

    @fail_fast_on_bad_input
    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: collect the votes of a completed job; raise for any other end."""
        from datacentric.labeling.rounds import finish_round

        if not event or event.get("status") != "success":
            event = event or {}
            raise AirflowException(f"labeling job {event.get('job_name', '?')} did not complete: "
                                   f"{event.get('message', 'the trigger sent no event')}")
        info = run_info(context)
        loaded, task, backend_type, job_name = self._round(info)
        if event.get("job_name") not in (None, job_name):
            raise AirflowException(f"the trigger reported job {event['job_name']!r}; this run's job is {job_name!r}")
        self.log.info("labeling job %s: %s", job_name, event.get("message", "completed"))
        backend = self.get_labeling_backend(task, backend_type)
        result = finish_round(loaded, DataRepositoryHook().get_repository(), backend, job_name=job_name,
                              run_id=info.run_id)
        return self._collected(result)

    def get_labeling_backend(self, task: Any, backend_type: str) -> Any:
        """The backend, with clients built from the Airflow connection its manifest block names."""
        if backend_type == "simulated":
            from datacentric.labeling.backends import get_backend

            return get_backend(task, "simulated", landing_root=DataRepositoryHook().settings.landing_root)
        return _service(backend_type).labeling_backend(task, _backend_config(task, backend_type), self.conn_id)

    def _round(self, info: Any) -> tuple[Any, Any, str, str]:
        from datacentric.labeling.rounds import job_name_for
        from datacentric.manifest import load_manifest

        loaded = load_manifest(self.manifest)
        task = loaded.spec.label_task
        if task is None:
            from datacentric.errors import MissingDefinitionError

            raise MissingDefinitionError(f"{loaded.path}: the manifest has no label_task")
        backend_type = self.backend_type or self.backend or task.backend
        return loaded, task, backend_type, job_name_for(task.name, info.interval_key)

    def _reschedule(self, context: Context, job_name: str, poll: float, timeout: timedelta) -> None:
        """Give the worker slot back until the next check, as a sensor in reschedule mode does."""
        from datetime import UTC, datetime

        from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout

        now = datetime.now(UTC)
        first = context["ti"].get_first_reschedule_date(context) or now
        if now - first > timeout:
            raise AirflowSensorTimeout(f"labeling job {job_name} still running after {timeout}")
        self.log.info("labeling job %s is still running; next check in %.0f s (worker slot released)",
                      job_name, poll)
        raise AirflowRescheduleException(now + timedelta(seconds=poll))

    def _collected(self, result: Any) -> dict[str, Any]:
        self.log.info("labeling job %s (%s%s): %d items, %d votes, %d responses rejected%s", result.job_name,
                      result.backend, ", a simulation" if result.backend == "simulated" else "", result.items,
                      result.votes, result.rejected, " (reused)" if result.reused else "")
        for message in result.messages:
            self.log.info("labeling job %s: %s", result.job_name, message)
        return result.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import labeling_lineage

        return labeling_lineage(task_instance, self.manifest)


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

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.labeling.rounds import consolidate_round
        from datacentric.manifest import load_manifest

        info = run_info(context)
        result = consolidate_round(load_manifest(self.manifest), DataRepositoryHook().get_repository(),
                                   job_name=self.job_name, run_id=info.run_id, created_at=info.interval_end)
        self.log.info("job %s: %d items labeled by %s; votes in %d = used %d + rejected %d; %d item(s) without "
                      "an answer; %d under the confidence threshold", result.job_name, result.items, result.method,
                      result.votes_in, result.votes_used, result.votes_rejected, result.items_without_answer,
                      result.low_confidence)
        for message in result.messages:
            self.log.warning("job %s: %s", result.job_name, message)
        return result.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import stage_lineage

        return stage_lineage(task_instance, stage="consolidate", job_name=self.job_name)


class LabelQualityOperator(BaseOperator):
    """Judge a round's consolidated labels and publish its label-quality report.

    Items under the confidence threshold and items cleanlab flags as likely label errors (on
    out-of-fold probabilities of a text model) are recorded for the next round's selection. The HTML
    report (per-worker accuracy, confusion matrices, confidence histogram, flagged items) goes to
    the repository's reports zone; its file URI is in XCom under `label_quality_report` and behind
    the task's "Label quality report" link. Returns the counts and paths.

    :param manifest: path of the manifest YAML (templated)
    :param job_name: the labeling job whose labels to judge (templated; usually from the round's XCom)
    """

    template_fields: Sequence[str] = ("manifest", "job_name")
    operator_extra_links = (LabelQualityReportLink(),)
    ui_color = "#f3e8ff"

    def __init__(self, *, manifest: str, job_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.job_name = job_name

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.labeling.quality import check_label_quality
        from datacentric.manifest import load_manifest

        info = run_info(context)
        result = check_label_quality(load_manifest(self.manifest), DataRepositoryHook().get_repository(),
                                     job_name=self.job_name, run_id=info.run_id, created_at=info.interval_end)
        context["ti"].xcom_push(key=LabelQualityReportLink.key, value=result.report_uri)
        self.log.info("job %s: %d items checked; %d under the confidence threshold, %d likely label errors; "
                      "%d sent back for review. Label-error check: %s", result.job_name, result.items_checked,
                      result.low_confidence, result.label_issues, result.flagged, result.ml_check)
        for message in result.messages:
            self.log.warning("job %s: %s", result.job_name, message)
        self.log.info("label-quality report: %s", result.report_uri)
        return result.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import stage_lineage

        return stage_lineage(task_instance, stage="label_quality", job_name=self.job_name)


# The Airflow side of each backend that takes time: a module with labeling_backend() (clients from
# the connection) and labeling_trigger() (the deferrable wait).
_SERVICES = {
    "ground_truth": "datacentric_airflow.operators.ground_truth",
    "label_studio": "datacentric_airflow.operators.label_studio",
}


def _service(backend_type: str) -> Any:
    if backend_type not in _SERVICES:
        from datacentric.errors import ParamError

        raise ParamError(f"no labeling backend {backend_type!r}; backends are simulated, {', '.join(_SERVICES)}")
    return importlib.import_module(_SERVICES[backend_type])


def _backend_config(task: Any, backend_type: str) -> Any:
    from datacentric.labeling.backends import backend_config

    return backend_config(task, backend_type)
