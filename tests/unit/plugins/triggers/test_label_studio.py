"""LabelStudioProjectTrigger: serialize() round-trips, and its async run polls the project's progress
through the hook until every task has its annotations."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from datacentric.labeling.backends.label_studio import LabelStudioError
from datacentric_airflow.hooks.label_studio import LabelStudioHook
from datacentric_airflow.triggers.label_studio import LabelStudioProjectTrigger

JOB = "sentiment-20261031t000000z"


def progress(done: int, total: int) -> dict[str, Any]:
    return {"id": 4, "task_number": total, "finished_task_number": done, "url": "http://ls/projects/4/data"}


class TestLabelStudioProjectTrigger:
    def test_serialize_round_trips(self) -> None:
        trigger = LabelStudioProjectTrigger(JOB, label_studio_conn_id="ls", poll_interval=15, max_transient_errors=1)
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)
        assert kwargs == {"job_name": JOB, "label_studio_conn_id": "ls", "poll_interval": 15,
                          "max_transient_errors": 1}

    def test_waits_until_every_task_has_its_annotations(self, monkeypatch: pytest.MonkeyPatch,
                                                        run_trigger: Callable) -> None:
        answers = iter([progress(0, 0), progress(3, 10), progress(10, 10)])
        seen: list[str] = []

        def project_progress(self: LabelStudioHook, title: str) -> dict[str, Any]:
            seen.append(title)
            return next(answers)

        monkeypatch.setattr(LabelStudioHook, "project_progress", project_progress)
        event = run_trigger(LabelStudioProjectTrigger(JOB, poll_interval=0))
        assert seen == [JOB] * 3
        assert event == {"status": "success", "job_name": JOB, "project_id": 4, "url": "http://ls/projects/4/data",
                         "done": 10, "total": 10, "message": f"all 10 tasks of project {JOB} have their annotations"}

    def test_missing_project_and_unreachable_server_are_errors(self, monkeypatch: pytest.MonkeyPatch,
                                                               run_trigger: Callable) -> None:
        monkeypatch.setattr(LabelStudioHook, "project_progress", lambda self, title: None)
        assert run_trigger(LabelStudioProjectTrigger(JOB, poll_interval=0))["status"] == "error"

        def down(self: LabelStudioHook, title: str) -> None:
            raise LabelStudioError("Label Studio at http://ls is not reachable (GET /api/projects): ConnectionError")

        monkeypatch.setattr(LabelStudioHook, "project_progress", down)
        event = run_trigger(LabelStudioProjectTrigger(JOB, poll_interval=0, max_transient_errors=2))
        assert event["status"] == "error" and "did not answer 3 times in a row" in event["message"]
