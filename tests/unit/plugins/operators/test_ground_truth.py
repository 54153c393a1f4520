"""GroundTruthLabelingOperator: creates the labeling job once, defers to the trigger, and reports a
failed job with its reason. SageMaker and S3 are real boto3 clients under botocore's Stubber (every
request and answer checked against the service model), installed at the hook boundary; S3 files are
covered by tests/integration/test_ground_truth_s3.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from botocore.stub import Stubber
from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator
from datacentric_airflow.operators.labeling import LabelingRoundOperator
from datacentric_airflow.triggers.ground_truth import GroundTruthLabelingJobTrigger

JOB = "sentiment-20261031t000000z"
END = datetime(2026, 10, 31, tzinfo=UTC)
LABEL_TASK = """\
  name: sentiment
  classes: [neg, pos]
  workers_per_item: 3
  budget_per_run: 5
  backend: ground_truth
  ground_truth:
    bucket: labeling-bucket
    role_arn: arn:aws:iam::123456789012:role/GroundTruth
    workteam_arn: arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers
    max_wait_hours: 48
    poll_interval_seconds: 120
"""


def context() -> dict[str, Any]:
    dag_run = SimpleNamespace(dag_id="datacentric_pipeline", run_id="manual__2026-10-31", run_after=END)
    return {"dag_run": dag_run, "data_interval_start": END - timedelta(days=1), "data_interval_end": END,
            "logical_date": END}


@pytest.fixture
def project(labeling_project: Callable) -> Path:
    """A manifest and a data repository with validated items to label."""
    return labeling_project(LABEL_TASK, {f"r{i}": "fine" for i in range(8)}).manifest


class TestGroundTruthLabelingOperator:
    def test_creates_the_job_once_and_defers(self, project: Path, sagemaker: Stubber, s3: Stubber,
                                             describe: Callable) -> None:
        op = GroundTruthLabelingOperator(task_id="label", manifest=str(project), aws_conn_id="aws_labels")
        sagemaker.add_client_error("describe_labeling_job", "ValidationException", "Could not find requested job",
                                   expected_params={"LabelingJobName": JOB})
        for _ in range(3):
            s3.add_response("put_object", {})
        sagemaker.add_response("create_labeling_job", {"LabelingJobArn": describe("x")["LabelingJobArn"]})
        sagemaker.add_response("describe_labeling_job", describe("Initializing"))
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context())
        sagemaker.assert_no_pending_responses()
        s3.assert_no_pending_responses()
        trigger = deferred.value.trigger
        assert isinstance(trigger, GroundTruthLabelingJobTrigger) and deferred.value.method_name == "execute_complete"
        assert (trigger.job_name, trigger.aws_conn_id, trigger.poll_interval) == (JOB, "aws_labels", 120)
        assert deferred.value.timeout == timedelta(hours=48)

    def test_a_retry_finds_the_job_and_never_creates_another(self, project: Path, sagemaker: Stubber,
                                                              s3: Stubber, describe: Callable) -> None:
        op = GroundTruthLabelingOperator(task_id="label", manifest=str(project))
        sagemaker.add_response("describe_labeling_job", describe("InProgress"), {"LabelingJobName": JOB})
        sagemaker.add_response("describe_labeling_job", describe("InProgress"), {"LabelingJobName": JOB})
        # No put_object and no create_labeling_job are queued: calling either would fail the test.
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context())
        sagemaker.assert_no_pending_responses()
        assert deferred.value.trigger.aws_conn_id == "aws_default"  # the manifest's connection

    @pytest.mark.parametrize("event", [
        {"status": "error", "job_name": JOB, "message": f"labeling job {JOB} is Failed: no workteam"},
        None,
    ])
    def test_execute_complete_raises_unless_success(self, project: Path, event: dict | None) -> None:
        op = GroundTruthLabelingOperator(task_id="label", manifest=str(project))
        with pytest.raises(AirflowException, match="did not complete: " + ("labeling job .* is Failed: no workteam"
                                                                            if event else "the trigger sent no event")):
            op.execute_complete(context(), event)

    def test_execute_complete_refuses_another_runs_job(self, project: Path) -> None:
        op = GroundTruthLabelingOperator(task_id="label", manifest=str(project))
        with pytest.raises(AirflowException, match="reported job 'other-job'"):
            op.execute_complete(context(), {"status": "success", "job_name": "other-job"})

    def test_fails_with_the_reason_when_the_job_already_failed(self, project: Path, sagemaker: Stubber,
                                                               s3: Stubber, describe: Callable) -> None:
        op = GroundTruthLabelingOperator(task_id="label", manifest=str(project))
        sagemaker.add_response("describe_labeling_job", describe("InProgress"))
        sagemaker.add_response("describe_labeling_job", describe("Failed", FailureReason="workteam deleted"))
        with pytest.raises(AirflowException, match="workteam deleted"):
            op.execute(context())

    def test_templated_fields_and_shape(self) -> None:
        assert set(GroundTruthLabelingOperator.template_fields) == {"manifest", "aws_conn_id"}
        assert issubclass(GroundTruthLabelingOperator, LabelingRoundOperator)

    def test_the_generic_round_operator_picks_ground_truth_from_the_manifest(
        self, project: Path, sagemaker: Stubber, s3: Stubber, describe: Callable
    ) -> None:
        op = LabelingRoundOperator(task_id="label", manifest=str(project))
        sagemaker.add_response("describe_labeling_job", describe("InProgress"))
        sagemaker.add_response("describe_labeling_job", describe("InProgress"))
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context())
        assert isinstance(deferred.value.trigger, GroundTruthLabelingJobTrigger)
