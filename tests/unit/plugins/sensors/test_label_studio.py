"""LabelStudioProjectSensor: a reschedule sensor over the project's progress, read through the hook."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException
from datacentric_airflow.hooks.label_studio import LabelStudioHook
from datacentric_airflow.sensors.label_studio import LabelStudioProjectSensor

JOB = "sentiment-20261031t000000z"


def progress(done: int, total: int) -> dict[str, Any]:
    return {"id": 4, "task_number": total, "finished_task_number": done, "url": "http://ls/projects/4/data"}


class TestLabelStudioProjectSensor:
    @pytest.mark.parametrize(("answer", "done"), [(progress(9, 10), False), (progress(10, 10), True),
                                                  (progress(0, 0), False)])
    def test_poke(self, monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any], done: bool) -> None:
        monkeypatch.setattr(LabelStudioHook, "project_progress", lambda self, title: answer)
        sensor = LabelStudioProjectSensor(task_id="wait", job_name=JOB)
        assert sensor.mode == "reschedule" and sensor.poke({}) is done

    def test_missing_project_fails(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(LabelStudioHook, "project_progress", lambda self, title: None)
        with pytest.raises(AirflowException, match="no Label Studio project titled"):
            LabelStudioProjectSensor(task_id="wait", job_name=JOB).poke({})
