"""Wait for a SageMaker Ground Truth labeling job in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from datacentric_airflow.hooks.ground_truth import FAILURE_STATES, SUCCESS_STATES, GroundTruthHook

# DescribeLabelingJob errors that say "try again later", not "this job is broken".
_TRANSIENT_ERRORS = ("ThrottlingException", "Throttling", "RequestLimitExceeded", "ServiceUnavailable",
                     "InternalFailure", "InternalServerError")


class GroundTruthLabelingJobTrigger(BaseTrigger):
    """Poll DescribeLabelingJob until the job ends.

    Initializing, InProgress and Stopping wait; Completed fires a success event with the label
    counters; Failed and Stopped fire an error event carrying the job's FailureReason, as does a job
    that does not exist. Throttling and other transient errors are retried, up to
    `max_transient_errors` in a row.

    :param job_name: the labeling job's name
    :param aws_conn_id: the AWS connection
    :param region_name: AWS region (default: the connection's)
    :param poll_interval: seconds between two DescribeLabelingJob calls
    :param max_transient_errors: transient errors in a row after which the trigger gives up
    """

    def __init__(
        self,
        job_name: str,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 60,
        max_transient_errors: int = 5,
    ) -> None:
        super().__init__()
        self.job_name = job_name
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.max_transient_errors = max_transient_errors

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "max_transient_errors": self.max_transient_errors,
            },
        )

    def hook(self) -> GroundTruthHook:
        return GroundTruthHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async
        from botocore.exceptions import BotoCoreError, ClientError

        hook = self.hook()
        describe = sync_to_async(hook.describe_labeling_job)
        failures = 0
        while True:
            try:
                job = await describe(self.job_name)
                failures = 0
            except (ClientError, BotoCoreError) as exc:
                code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else ""
                transient = isinstance(exc, BotoCoreError) or code in _TRANSIENT_ERRORS
                failures += 1
                if not transient or failures > self.max_transient_errors:
                    yield self._event("error", f"DescribeLabelingJob failed: {exc}")
                    return
                self.log.warning("DescribeLabelingJob %s: %s (try %d); polling again", self.job_name, exc, failures)
                await asyncio.sleep(self.poll_interval)
                continue
            if job is None:
                yield self._event("error", f"no Ground Truth labeling job named {self.job_name!r}")
                return
            state = job["LabelingJobStatus"]
            counters = job.get("LabelCounters") or {}
            if state in SUCCESS_STATES:
                yield self._event("success", f"labeling job {self.job_name} completed", state=state,
                                  job_arn=job.get("LabelingJobArn", ""), counters=counters)
                return
            if state in FAILURE_STATES:
                reason = job.get("FailureReason") or f"the job was {state.lower()} without a reason"
                yield self._event("error", f"labeling job {self.job_name} is {state}: {reason}", state=state,
                                  job_arn=job.get("LabelingJobArn", ""), counters=counters)
                return
            self.log.info("labeling job %s is %s: %s labeled, %s unlabeled", self.job_name, state,
                          counters.get("TotalLabeled", 0), counters.get("Unlabeled", 0))
            await asyncio.sleep(self.poll_interval)

    def _event(self, status: str, message: str, **extra: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "job_name": self.job_name, "message": message, **extra})
