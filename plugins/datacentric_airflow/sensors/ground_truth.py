"""Wait for a SageMaker Ground Truth labeling job with a sensor (reschedule mode by default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk.exceptions import AirflowException

from datacentric_airflow.hooks.ground_truth import (
    FAILURE_STATES,
    INTERMEDIATE_STATES,
    SUCCESS_STATES,
    GroundTruthHook,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class GroundTruthLabelingJobSensor(AwsBaseSensor[GroundTruthHook]):
    """Poke DescribeLabelingJob until the job is Completed; fail when it is Failed or Stopped (with
    its FailureReason) or does not exist. In reschedule mode (the default) a labeling job that runs
    for days holds no worker slot between pokes.

    :param job_name: the labeling job's name (templated)
    """

    aws_hook_class = GroundTruthHook
    template_fields: Sequence[str] = aws_template_fields("job_name")
    INTERMEDIATE_STATES: tuple[str, ...] = INTERMEDIATE_STATES
    FAILURE_STATES: tuple[str, ...] = FAILURE_STATES
    SUCCESS_STATES: tuple[str, ...] = SUCCESS_STATES
    ui_color = "#f3e8ff"

    def __init__(self, *, job_name: str, mode: str = "reschedule", **kwargs: Any) -> None:
        super().__init__(mode=mode, **kwargs)
        self.job_name = job_name

    def poke(self, context: Context) -> bool:
        job = self.hook.describe_labeling_job(self.job_name)
        if job is None:
            raise AirflowException(f"no Ground Truth labeling job named {self.job_name!r}")
        state = job["LabelingJobStatus"]
        counters = job.get("LabelCounters") or {}
        self.log.info("labeling job %s is %s: %s labeled, %s unlabeled", self.job_name, state,
                      counters.get("TotalLabeled", 0), counters.get("Unlabeled", 0))
        if state in self.FAILURE_STATES:
            raise AirflowException(f"labeling job {self.job_name} is {state}: "
                                   f"{job.get('FailureReason') or 'no reason given'}")
        if state in self.SUCCESS_STATES:
            return True
        if state not in self.INTERMEDIATE_STATES:
            raise AirflowException(f"labeling job {self.job_name}: unexpected status {state!r}")
        return False
