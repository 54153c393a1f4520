"""GroundTruthLabelingJobTrigger: serialize() round-trips, and its async run polls a stubbed SageMaker
client at the hook boundary until the job ends."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from botocore.stub import Stubber
from datacentric_airflow.hooks.ground_truth import FAILURE_STATES
from datacentric_airflow.triggers.ground_truth import GroundTruthLabelingJobTrigger

JOB = "sentiment-20261031t000000z"


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

    def test_waits_through_intermediate_states_then_succeeds(self, sagemaker: Stubber, describe: Callable,
                                                             run_trigger: Callable) -> None:
        for state in ("Initializing", "InProgress", "Completed"):
            sagemaker.add_response("describe_labeling_job", describe(state), {"LabelingJobName": JOB})
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        sagemaker.assert_no_pending_responses()
        assert event["status"] == "success" and event["job_name"] == JOB
        assert event["counters"] == {"TotalLabeled": 4, "Unlabeled": 1} and event["job_arn"].endswith(JOB)

    @pytest.mark.parametrize("state", FAILURE_STATES)
    def test_failed_and_stopped_carry_the_failure_reason(self, sagemaker: Stubber, describe: Callable,
                                                         run_trigger: Callable, state: str) -> None:
        sagemaker.add_response("describe_labeling_job", describe("Stopping"))
        sagemaker.add_response("describe_labeling_job",
                               describe(state, FailureReason="ClientError: role cannot read the manifest"))
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        assert event["status"] == "error" and event["state"] == state
        assert event["message"] == f"labeling job {JOB} is {state}: ClientError: role cannot read the manifest"

    def test_a_missing_job_is_an_error(self, sagemaker: Stubber, run_trigger: Callable) -> None:
        sagemaker.add_client_error("describe_labeling_job", "ValidationException", "Could not find requested job")
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        assert event["status"] == "error" and "no Ground Truth labeling job named" in event["message"]

    def test_throttling_is_retried_other_errors_are_not(self, sagemaker: Stubber, describe: Callable,
                                                        run_trigger: Callable) -> None:
        sagemaker.add_client_error("describe_labeling_job", "ThrottlingException", "Rate exceeded")
        sagemaker.add_response("describe_labeling_job", describe("Completed"))
        assert run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))["status"] == "success"
        sagemaker.add_client_error("describe_labeling_job", "AccessDeniedException", "not allowed")
        event = run_trigger(GroundTruthLabelingJobTrigger(JOB, aws_conn_id=None, poll_interval=0))
        assert event["status"] == "error" and "AccessDenied" in event["message"]
