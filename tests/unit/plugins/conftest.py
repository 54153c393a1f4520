"""Fixtures shared by the provider's tests: SageMaker and S3 as real boto3 clients under botocore's
Stubber installed at the Ground Truth hook boundary, and a runner for a trigger's async loop (the
migrated Airflow metadata database, `airflow_db`, is in tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

JOB = "sentiment-20261031t000000z"
END = datetime(2026, 10, 31, tzinfo=UTC)


def describe_labeling_job(state: str, **extra: Any) -> dict[str, Any]:
    """A DescribeLabelingJob answer for the job JOB in `state`, valid against the service model."""
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
def describe() -> Callable[..., dict[str, Any]]:
    return describe_labeling_job


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """A stubbed SageMaker client as the hook's `conn`; the test queues the answers it expects."""
    from datacentric_airflow.hooks.ground_truth import GroundTruthHook

    sm = client("sagemaker")
    monkeypatch.setattr(GroundTruthHook, "conn", sm)
    stub = Stubber(sm)
    stub.activate()
    yield stub
    stub.deactivate()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    from datacentric_airflow.hooks.ground_truth import GroundTruthHook

    s3_client = client("s3")
    monkeypatch.setattr(GroundTruthHook, "get_s3_client", lambda self: s3_client)
    stub = Stubber(s3_client)
    stub.activate()
    yield stub
    stub.deactivate()


@pytest.fixture
def run_trigger() -> Callable[[Any], dict[str, Any]]:
    """Run a trigger's async loop as the triggerer does and return its first event's payload."""

    def run(trigger: Any) -> dict[str, Any]:
        async def first_event() -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise AssertionError("the trigger ended without an event")

        return asyncio.run(asyncio.wait_for(first_event(), timeout=60))

    return run
