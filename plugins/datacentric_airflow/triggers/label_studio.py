"""Wait for a Label Studio project's annotations in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from datacentric_airflow.hooks.label_studio import LabelStudioHook


class LabelStudioProjectTrigger(BaseTrigger):
    """Poll a labeling round's project until every task has its annotations (Label Studio's
    finished_task_number reaches task_number), then fire a success event. A project that does not
    exist fires an error event; an unreachable server is retried up to `max_transient_errors` polls
    in a row.

    :param job_name: the round's job name, the project's title
    :param label_studio_conn_id: the Airflow connection of the server
    :param poll_interval: seconds between two polls
    :param max_transient_errors: failed polls in a row after which the trigger gives up
    """

    def __init__(
        self,
        job_name: str,
        *,
        label_studio_conn_id: str = LabelStudioHook.default_conn_name,
        poll_interval: float = 60,
        max_transient_errors: int = 5,
    ) -> None:
        super().__init__()
        self.job_name = job_name
        self.label_studio_conn_id = label_studio_conn_id
        self.poll_interval = poll_interval
        self.max_transient_errors = max_transient_errors

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "label_studio_conn_id": self.label_studio_conn_id,
                "poll_interval": self.poll_interval,
                "max_transient_errors": self.max_transient_errors,
            },
        )

    def hook(self) -> LabelStudioHook:
        return LabelStudioHook(label_studio_conn_id=self.label_studio_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async
        from datacentric.errors import LabelingError

        progress = sync_to_async(self.hook().project_progress)
        failures = 0
        while True:
            try:
                project = await progress(self.job_name)
                failures = 0
            except LabelingError as exc:
                failures += 1
                if failures > self.max_transient_errors:
                    yield self._event("error", f"Label Studio did not answer {failures} times in a row: {exc}")
                    return
                self.log.warning("project %s: %s (try %d); polling again", self.job_name, exc, failures)
                await asyncio.sleep(self.poll_interval)
                continue
            if project is None:
                yield self._event("error", f"no Label Studio project titled {self.job_name!r}")
                return
            done, total = project["finished_task_number"], project["task_number"]
            if total and done >= total:
                yield self._event("success", f"all {total} tasks of project {self.job_name} have their annotations",
                                  project_id=project["id"], url=project["url"], done=done, total=total)
                return
            self.log.info("project %s: %d of %d tasks have their annotations (%s)", self.job_name, done, total,
                          project["url"])
            await asyncio.sleep(self.poll_interval)

    def _event(self, status: str, message: str, **extra: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "job_name": self.job_name, "message": message, **extra})
