"""GroundTruthLabelingJobSensor: a reschedule sensor over the job's states (stubbed SageMaker client)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from airflow.sdk.exceptions import AirflowException
from botocore.stub import Stubber
from datacentric_airflow.hooks.ground_truth import FAILURE_STATES, INTERMEDIATE_STATES, SUCCESS_STATES
from datacentric_airflow.sensors.ground_truth import GroundTruthLabelingJobSensor

JOB = "sentiment-20261031t000000z"


class TestGroundTruthLabelingJobSensor:
    @pytest.mark.parametrize("state", INTERMEDIATE_STATES + SUCCESS_STATES + FAILURE_STATES)
    def test_poke(self, sagemaker: Stubber, describe: Callable, state: str) -> None:
        sensor = GroundTruthLabelingJobSensor(task_id="wait", job_name=JOB, aws_conn_id=None)
        assert sensor.mode == "reschedule"
        sagemaker.add_response("describe_labeling_job", describe(state, FailureReason="no workers"))
        if state in FAILURE_STATES:
            with pytest.raises(AirflowException, match=f"is {state}: no workers"):
                sensor.poke({})
        else:
            assert sensor.poke({}) is (state in SUCCESS_STATES)
