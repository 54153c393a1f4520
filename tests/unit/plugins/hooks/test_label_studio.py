"""Label Studio's Airflow pieces at the hook boundary: the hook's connection handling, the trigger's
serialize() and async run, the reschedule sensor. The whole round against a real server is in
tests/integration/test_label_studio.py."""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException
from datacentric.labeling.backends.label_studio import LabelStudioError
from datacentric_airflow.hooks.label_studio import LabelStudioHook, server_url
from datacentric_airflow.operators.label_studio import LabelStudioLabelingOperator
from datacentric_airflow.sensors.label_studio import LabelStudioProjectSensor
from datacentric_airflow.triggers.label_studio import LabelStudioProjectTrigger

JOB = "sentiment-20261031t000000z"


def progress(done: int, total: int) -> dict[str, Any]:
    return {"id": 4, "task_number": total, "finished_task_number": done, "url": "http://ls/projects/4/data"}


class TestLabelStudioHook:
    @pytest.mark.parametrize(("host", "schema", "port", "url"), [
        ("http://127.0.0.1:8081/", None, None, "http://127.0.0.1:8081"),
        ("labels.internal", "https", 443, "https://labels.internal:443"),
        ("labels.internal", None, None, "http://labels.internal"),
    ])
    def test_server_url(self, host: str, schema: str | None, port: int | None, url: str) -> None:
        assert server_url(host, schema, port) == url

    def test_connection_without_token_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LS_NO_TOKEN", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1"}))
        with pytest.raises(ValueError, match="'ls_no_token': put the Label Studio API token in its password"):
            LabelStudioHook("ls_no_token").get_conn()

    def test_client_from_connection(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LS_TEST", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": 18999, "password": "tok-123"}))
        client = LabelStudioHook("ls_test").get_conn()
        assert client.url == "http://127.0.0.1:18999" and client.session.headers["Authorization"] == "Token tok-123"


def run_trigger(trigger: LabelStudioProjectTrigger) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first_event(), timeout=60))


class TestLabelStudioProjectTrigger:
    def test_serialize_round_trips(self) -> None:
        trigger = LabelStudioProjectTrigger(JOB, label_studio_conn_id="ls", poll_interval=15, max_transient_errors=1)
        classpath, kwargs = trigger.serialize()
        module, _, name = classpath.rpartition(".")
        assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)
        assert kwargs == {"job_name": JOB, "label_studio_conn_id": "ls", "poll_interval": 15,
                          "max_transient_errors": 1}

    def test_waits_until_every_task_has_its_annotations(self, monkeypatch: pytest.MonkeyPatch) -> None:
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

    def test_missing_project_and_unreachable_server_are_errors(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(LabelStudioHook, "project_progress", lambda self, title: None)
        assert run_trigger(LabelStudioProjectTrigger(JOB, poll_interval=0))["status"] == "error"

        def down(self: LabelStudioHook, title: str) -> None:
            raise LabelStudioError("Label Studio at http://ls is not reachable (GET /api/projects): ConnectionError")

        monkeypatch.setattr(LabelStudioHook, "project_progress", down)
        event = run_trigger(LabelStudioProjectTrigger(JOB, poll_interval=0, max_transient_errors=2))
        assert event["status"] == "error" and "did not answer 3 times in a row" in event["message"]


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


def test_operator_shape() -> None:
    assert set(LabelStudioLabelingOperator.template_fields) == {"manifest", "label_studio_conn_id"}
    op = LabelStudioLabelingOperator(task_id="label", manifest="m.yaml", label_studio_conn_id="ls")
    assert (op.backend_type, op.conn_id, op.deferrable) == ("label_studio", "ls", True)
