"""SageMaker Ground Truth hook: the boto3 SageMaker client of an Airflow AWS connection.

`conn` is the client (AwsBaseHook, client_type "sagemaker"); the helpers need more than one call or
translate an answer: describe a labeling job that may not exist, the S3 client of the same
connection, the console link, and the labeling backend built on both clients.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

# DescribeLabelingJob's states, as the sensor and the trigger read them.
INTERMEDIATE_STATES = ("Initializing", "InProgress", "Stopping")
FAILURE_STATES = ("Failed", "Stopped")
SUCCESS_STATES = ("Completed",)


class GroundTruthHook(AwsBaseHook):
    """Interact with SageMaker Ground Truth labeling jobs.

    :param aws_conn_id: the AWS connection (credentials, region, endpoints); default aws_default
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "sagemaker"
        super().__init__(*args, **kwargs)

    def describe_labeling_job(self, job_name: str) -> dict[str, Any] | None:
        """DescribeLabelingJob's answer, or None when no job has that name."""
        from datacentric.labeling.backends.ground_truth import describe_labeling_job

        return describe_labeling_job(self.conn, job_name)

    def get_s3_client(self) -> Any:
        """The S3 client of the same connection (its `service_config.s3.endpoint_url` applies)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                      config=self.config).get_conn()

    def console_url(self, job_name: str) -> str:
        from datacentric.labeling.backends.ground_truth import console_url

        return console_url(self.conn_region_name, job_name)

    def get_labeling_backend(self, task: Any, config: Any) -> Any:
        """The Ground Truth labeling backend of a label task, talking through this connection."""
        from datacentric.labeling.backends.ground_truth import GroundTruthBackend

        return GroundTruthBackend(task, config, sagemaker=self.conn, s3=self.get_s3_client(),
                                  region=self.conn_region_name)
