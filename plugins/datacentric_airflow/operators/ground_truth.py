"""Labeling rounds on SageMaker Ground Truth (for AWS accounts that already use it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datacentric_airflow.hooks.ground_truth import GroundTruthHook
from datacentric_airflow.operators.labeling import LabelingRoundOperator
from datacentric_airflow.triggers.ground_truth import GroundTruthLabelingJobTrigger


class GroundTruthLabelingOperator(LabelingRoundOperator):
    """Have a round's items labeled by a SageMaker Ground Truth labeling job.

    Writes the input manifest (JSON lines with `source` and `id`), the label category file and the
    worker template to S3, then creates a text-classification labeling job with the label task's
    workers_per_item workers per object and the task time limits and stopping conditions of the
    manifest's `ground_truth` block. The job name is derived from the run and DescribeLabelingJob
    comes first: CreateLabelingJob is called only when no job has that name, so a retry never starts
    a second job. Logs the job's ARN and console link and defers to GroundTruthLabelingJobTrigger;
    `execute_complete` raises unless the job Completed, then reads the output manifest and every
    worker response (annotations/worker-response) into the labels zone, so consolidation sees every
    vote. Returns the job name, state and counts.

    :param manifest: path of the manifest YAML (templated)
    :param aws_conn_id: AWS connection instead of the manifest's ground_truth.conn_id (templated)
    :param deferrable: wait in the triggerer (True) or poll from the worker (False)
    :param poll_interval: seconds between two DescribeLabelingJob calls (default: the manifest's)
    """

    template_fields: Sequence[str] = ("manifest", "aws_conn_id")
    backend_type = "ground_truth"

    def __init__(self, *, manifest: str, aws_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(manifest=manifest, **kwargs)
        self.aws_conn_id = aws_conn_id

    # The base class declares conn_id an attribute; here it is a read-only view of aws_conn_id.
    @property
    def conn_id(self) -> str | None:  # type: ignore[override]
        return self.aws_conn_id


def labeling_backend(task: Any, config: Any, conn_id: str | None) -> Any:
    """The Ground Truth backend with the SageMaker and S3 clients of the AWS connection."""
    return GroundTruthHook(aws_conn_id=conn_id or config.conn_id).get_labeling_backend(task, config)


def labeling_trigger(job_name: str, config: Any, conn_id: str | None, poll_interval: float) -> Any:
    return GroundTruthLabelingJobTrigger(job_name, aws_conn_id=conn_id or config.conn_id, poll_interval=poll_interval)
