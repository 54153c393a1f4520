"""GroundTruthHook: a SageMaker client hook whose `conn` is a real boto3 client, here under botocore's
Stubber (every request and answer checked against the service model)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.stub import Stubber
from datacentric_airflow.hooks.ground_truth import (
    FAILURE_STATES,
    INTERMEDIATE_STATES,
    SUCCESS_STATES,
    GroundTruthHook,
)

JOB = "sentiment-20261031t000000z"


class TestGroundTruthHook:
    def test_is_a_sagemaker_client_hook(self) -> None:
        assert GroundTruthHook(aws_conn_id=None).client_type == "sagemaker"

    def test_describe_returns_none_for_a_missing_job(self, sagemaker: Stubber, describe: Callable) -> None:
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
