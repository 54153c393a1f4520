"""Ground Truth's Airflow pieces: hook, trigger, sensor and operator. SageMaker is a real boto3
client under botocore's Stubber (every request and answer checked against the service model),
installed at the hook boundary; S3 files are covered by tests/integration/test_ground_truth_s3.py."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from botocore.stub import Stubber
from datacentric_airflow.hooks.ground_truth import (
    FAILURE_STATES,
    INTERMEDIATE_STATES,
    SUCCESS_STATES,
    GroundTruthHook,
)
from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator
from datacentric_airflow.operators.labeling import LabelingRoundOperator
from datacentric_airflow.sensors.ground_truth import GroundTruthLabelingJobSensor
from datacentric_airflow.triggers.ground_truth import GroundTruthLabelingJobTrigger

JOB = "sentiment-20261031t000000z"
END = datetime(2026, 10, 31, tzinfo=UTC)
MANIFEST = """\
name: t
sources:
  reviews:
    type: file
    owner: me
    location: {path: r, format: csv}
    keys: [id]
    columns: {id: {type: str, nullable: false}, text: {type: str}}
label_task:
  name: sentiment
  source: reviews
  item_key: id
  text_field: text
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


def describe(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "LabelingJobStatus": state,
        "LabelCounters": {"TotalLabeled": 4, "Unlabeled": 1},
        "CreationTime": END, "LastModifiedTime": END, "JobReferenceCode": "ref",
        "LabelingJobName": JOB, "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{JOB}",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/in.manifest"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/out/"},
        "RoleArn": "arn:aws:iam::123456789012:role/GroundTruth",
        "HumanTaskConfig": {
            "WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers",
            "UiConfig": {"UiTemplateS3Uri": "s3://b/t.html"}, "PreHumanTaskLambdaArn": "arn:aws:lambda:x",
            "TaskTitle": "t", "TaskDescription": "d", "NumberOfHumanWorkersPerDataObject": 3,
            "TaskTimeLimitInSeconds": 300, "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": "a"},
        },
        **extra,
    }


def client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    """A stubbed SageMaker client as the hook's `conn`; the test queues the answers it expects."""
    sm = client("sagemaker")
    monkeypatch.setattr(GroundTruthHook, "conn", sm)
    stub = Stubber(sm)
    stub.activate()
    yield stub
    stub.deactivate()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    s3_client = client("s3")
    monkeypatch.setattr(GroundTruthHook, "get_s3_client", lambda self: s3_client)
    stub = Stubber(s3_client)
    stub.activate()
    yield stub
    stub.deactivate()


class TestGroundTruthHook:
    def test_is_a_sagemaker_client_hook(self) -> None:
        assert GroundTruthHook(aws_conn_id=None).client_type == "sagemaker"

    def test_describe_returns_none_for_a_missing_job(self, sagemaker: Stubber) -> None:
        sagemaker.add_client_error("describe_labeling_job", "ValidationException",
                                   f"Could not find requested job with name {JOB}",
                                   expected_params={"LabelingJobName": JOB})
        sagemaker.add_response("describe_labeling_job", describe("InProgress"), {"LabelingJobName": JOB})
        hook = GroundTruthHook(aws_conn_id=None)
        assert hook.describe_labeling_job(JOB) is None
        assert hook.describe_labeling_job(JOB)["LabelingJobStatus"] == "InProgress"

    def test_other_errors_are_not_swallowed(self, sagemaker: Stubber) -> None:
        from botocore.exceptions import ClientError

        sagemaker.add_client_error("describe_labeling_job", "AccessDeniedException", "not allowed")
        with pytest.raises(ClientError, match="AccessDenied"):
            GroundTruthHook(aws_conn_id=None).describe_labeling_job(JOB)

    def test_states_match_the_library(self) -> None:
        from datacentric.labeling.backends import ground_truth as library

        assert (INTERMEDIATE_STATES, FAILURE_STATES, SUCCESS_STATES) == (
            library.INTERMEDIATE_STATES, library.FAILURE_STATES, library.SUCCESS_STATES)
        import botocore.session

        model = botocore.session.get_session().get_service_model("sagemaker")
        enum = model.operation_model("DescribeLabelingJob").output_shape.members["LabelingJobStatus"].enum
        assert sorted(INTERMEDIATE_STATES + FAILURE_STATES + SUCCESS_STATES) == sorted(enum)


def run_trigger(trigger: GroundTruthLabelingJobTrigger) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first_event(), timeout=60))


class TestGroundTruthLabelingJobTrigger:
    def test_serialize_round_trips(self) -> None:
        trigger = GroundTruthLabelingJobTrigger(JOB, aws_conn_id="aws_labels", region_name="eu-west-1",
                                                poll_interval=30, max_transient_errors=2)
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert kwargs == {"job_name": JOB, "aws_conn_id": "aws_labels", "region_name": "eu-west-1",
                          "poll_interval": 30, "max_transient_errors": 2}

    def test_waits_through_intermediate_states_then_succeeds(self, sagemaker: Stubber) -> None:
        for state in ("Initializing", "InProgress", "Completed"):
            sagemaker.add_response("describe_labeling_job", describe(state), {"LabelingJobName": JOB})
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        sagemaker.assert_no_pending_responses()
        assert event["status"] == "success" and event["job_name"] == JOB
        assert event["counters"] == {"TotalLabeled": 4, "Unlabeled": 1} and event["job_arn"].endswith(JOB)

    @pytest.mark.parametrize("state", FAILURE_STATES)
    def test_failed_and_stopped_carry_the_failure_reason(self, sagemaker: Stubber, state: str) -> None:
        sagemaker.add_response("describe_labeling_job", describe("Stopping"))
        sagemaker.add_response("describe_labeling_job",
                               describe(state, FailureReason="ClientError: role cannot read the manifest"))
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        assert event["status"] == "error" and event["state"] == state
        assert event["message"] == f"labeling job {JOB} is {state}: ClientError: role cannot read the manifest"

    def test_a_missing_job_is_an_error(self, sagemaker: Stubber) -> None:
        sagemaker.add_client_error("describe_labeling_job", "ValidationException", "Could not find requested job")
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        assert event["status"] == "error" and "no Ground Truth labeling job named" in event["message"]

    def test_throttling_is_retried_other_errors_are_not(self, sagemaker: Stubber) -> None:
        sagemaker.add_client_error("describe_labeling_job", "ThrottlingException", "Rate exceeded")
        sagemaker.add_response("describe_labeling_job", describe("Completed"))
        assert run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))["status"] == "success"
        sagemaker.add_client_error("describe_labeling_job", "AccessDeniedException", "not allowed")
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        assert event["status"] == "error" and "AccessDenied" in event["message"]


class TestGroundTruthLabelingJobSensor:
    @pytest.mark.parametrize("state", INTERMEDIATE_STATES + SUCCESS_STATES + FAILURE_STATES)
    def test_poke(self, sagemaker: Stubber, state: str) -> None:
        sensor = GroundTruthLabelingJobSensor(task_id="wait", job_name=JOB, aws_conn_id=None)
        assert sensor.mode == "reschedule"
        sagemaker.add_response("describe_labeling_job", describe(state, FailureReason="no workers"))
        if state in FAILURE_STATES:
            with pytest.raises(AirflowException, match=f"is {state}: no workers"):
                sensor.poke({})
        else:
            assert sensor.poke({}) is (state in SUCCESS_STATES)


def context() -> dict[str, Any]:
    dag_run = SimpleNamespace(dag_id="datacentric_pipeline", run_id="manual__2026-10-31", run_after=END)
    return {"dag_run": dag_run, "data_interval_start": END - timedelta(days=1), "data_interval_end": END,
            "logical_date": END}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A manifest and a data repository with validated items to label."""
    from datacentric.repository.store import DataRepository

    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "repo"))
    repo = DataRepository(tmp_path / "repo").init()
    repo.publish_frame("validated", "reviews/data.parquet",
                       pd.DataFrame({"id": [f"r{i}" for i in range(8)], "text": ["fine"] * 8}))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    return manifest


class TestGroundTruthLabelingOperator:
    def test_creates_the_job_once_and_defers(self, project: Path, sagemaker: Stubber, s3: Stubber) -> None:
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
                                                              s3: Stubber) -> None:
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
                                                               s3: Stubber) -> None:
        op = GroundTruthLabelingOperator(task_id="label", manifest=str(project))
        sagemaker.add_response("describe_labeling_job", describe("InProgress"))
        sagemaker.add_response("describe_labeling_job", describe("Failed", FailureReason="workteam deleted"))
        with pytest.raises(AirflowException, match="workteam deleted"):
            op.execute(context())

    def test_templated_fields_and_shape(self) -> None:
        assert set(GroundTruthLabelingOperator.template_fields) == {"manifest", "aws_conn_id"}
        assert issubclass(GroundTruthLabelingOperator, LabelingRoundOperator)


def test_the_generic_round_operator_picks_ground_truth_from_the_manifest(project: Path, sagemaker: Stubber,
                                                                          s3: Stubber) -> None:
    op = LabelingRoundOperator(task_id="label", manifest=str(project))
    sagemaker.add_response("describe_labeling_job", describe("InProgress"))
    sagemaker.add_response("describe_labeling_job", describe("InProgress"))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert isinstance(deferred.value.trigger, GroundTruthLabelingJobTrigger)
