"""A labeling round on a real Label Studio server, started in its own virtual environment by
scripts/label_studio.sh (installed once per pinned version into the user's cache, outside the clone,
and reused by every later run and clone). Annotator accounts join through the
organization's invite link, as people do, and submit their annotations through the REST API with
their own tokens; the round's operator creates the project, defers to the trigger, and exports the
votes with their annotators. A server that cannot be installed or started fails the tests."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import requests
from airflow.sdk.exceptions import TaskDeferred

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT / "scripts" / "label_studio.sh"
CONN_ID = "label_studio_test"
CLASSES = ["negative", "neutral", "positive"]
LABEL_TASK = f"""\
  name: sentiment
  classes: [negative, neutral, positive]
  instructions: Choose the sentiment the customer expresses.
  workers_per_item: 3
  budget_per_run: 6
  backend: label_studio
  label_studio: {{conn_id: {CONN_ID}, poll_interval_seconds: 1}}
"""
TRUTH = {f"r{i}": CLASSES[i % 3] for i in range(8)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def label_studio(session_dir: Path) -> Iterator[SimpleNamespace]:
    """A Label Studio server on a free loopback port with a fresh database, its admin's token, and
    the Airflow connection the operator reads."""
    port = _free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_DATA_DIR": str(session_dir / "label-studio"),
        "LABEL_STUDIO_PORT": str(port),
        "LABEL_STUDIO_USERNAME": "admin@example.com",
        "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(16),
        "LABEL_STUDIO_USER_TOKEN": secrets.token_hex(20),
    }
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=1800)
    if started.returncode != 0:
        pytest.fail(f"scripts/label_studio.sh start failed ({started.returncode}):\n{started.stdout[-3000:]}\n"
                    f"{started.stderr[-3000:]}")
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}")
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "http", "host": url, "password": env["LABEL_STUDIO_USER_TOKEN"]})
    try:
        yield SimpleNamespace(url=url, token=env["LABEL_STUDIO_USER_TOKEN"])
    finally:
        if previous is None:
            os.environ.pop(f"AIRFLOW_CONN_{CONN_ID.upper()}", None)
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)


def admin(label_studio: SimpleNamespace) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {label_studio.token}"
    return session


def join_as_annotator(label_studio: SimpleNamespace, email: str) -> requests.Session:
    """Sign up through the organization's invite link, then use the account's own API token."""
    invite = admin(label_studio).get(f"{label_studio.url}/api/invite", timeout=30)
    invite.raise_for_status()
    signup = f"{label_studio.url}/user/signup/?token={invite.json()['token']}"
    browser = requests.Session()
    browser.get(signup, timeout=30).raise_for_status()
    form = {"email": email, "password": secrets.token_urlsafe(12), "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    answer = browser.post(signup, data=form, headers={"Referer": signup}, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, f"signup of {email} failed: {answer.status_code} {answer.text[:300]}"
    token = browser.get(f"{label_studio.url}/api/current-user/token", timeout=30).json()["token"]
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    assert api.get(f"{label_studio.url}/api/current-user/whoami", timeout=30).json()["email"] == email
    return api


@pytest.fixture(scope="module")
def annotators(label_studio: SimpleNamespace) -> dict[str, requests.Session]:
    tag = secrets.token_hex(3)
    return {email: join_as_annotator(label_studio, email)
            for email in (f"ann-{tag}@example.com", f"bob-{tag}@example.com", f"cat-{tag}@example.com",
                          f"dan-{tag}@example.com")}


@pytest.fixture
def project(labeling_project: Callable) -> SimpleNamespace:
    return labeling_project(LABEL_TASK, {k: f"review {k}" for k in TRUTH})


def context(end: datetime) -> dict[str, Any]:
    dag_run = SimpleNamespace(dag_id="datacentric_pipeline", run_id=f"scheduled__{end.isoformat()}", run_after=end)
    return {"dag_run": dag_run, "data_interval_start": end - timedelta(days=1), "data_interval_end": end,
            "logical_date": end}


def job_of(end: datetime) -> str:
    from datacentric.labeling.rounds import job_name_for

    return job_name_for("sentiment", end.strftime("%Y%m%dT%H%M%SZ"))


def projects_titled(label_studio: SimpleNamespace, title: str) -> list[dict[str, Any]]:
    answer = admin(label_studio).get(f"{label_studio.url}/api/projects", params={"title": title, "page_size": 100},
                                     timeout=30).json()
    return [p for p in answer["results"] if p["title"] == title]


def task_items(label_studio: SimpleNamespace, project_id: int) -> list[str]:
    answer = admin(label_studio).get(f"{label_studio.url}/api/tasks",
                                     params={"project": project_id, "page_size": 1000}, timeout=30).json()
    return sorted(t["data"]["item_id"] for t in answer["tasks"])


def annotate_all(label_studio: SimpleNamespace, project_id: int, annotators: dict[str, requests.Session]) -> list:
    """The annotators take turns asking Label Studio for their next task until none is left. The last
    one answers wrongly and skips its first task; the second answers one task with a label the task
    does not have. Returns what was submitted: (item, annotator, label or None when skipped)."""
    submitted: list[tuple[str, str, str | None]] = []
    emails = list(annotators)
    active = list(emails)
    for _ in range(200):
        if not active:
            return submitted
        for email in list(active):
            answer = annotators[email].get(f"{label_studio.url}/api/projects/{project_id}/next", timeout=30)
            if answer.status_code == 404:
                active.remove(email)
                continue
            answer.raise_for_status()
            task = answer.json()
            item = task["data"]["item_id"]
            if email == emails[3] and not any(e == email for _, e, _ in submitted):
                payload: dict[str, Any] = {"result": [], "was_cancelled": True}
                label = None
            else:
                label = TRUTH[item]
                if email == emails[3]:
                    label = CLASSES[(CLASSES.index(label) + 1) % 3]
                if email == emails[1] and not any(e == email for _, e, _ in submitted):
                    label = "ecstatic"
                payload = {"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                       "value": {"choices": [label]}}], "lead_time": 2.5}
            posted = annotators[email].post(f"{label_studio.url}/api/tasks/{task['id']}/annotations/", json=payload,
                                            timeout=30)
            assert posted.status_code == 201, posted.text[:300]
            submitted.append((item, email, label))
    raise AssertionError("the annotators never ran out of tasks")


def run_trigger(trigger: Any) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first_event(), timeout=300))


def test_round_on_a_real_server(label_studio: SimpleNamespace, annotators: dict[str, requests.Session],
                                project: SimpleNamespace) -> None:
    from datacentric.labeling.rounds import consolidate_round
    from datacentric.manifest import load_manifest
    from datacentric_airflow.operators.label_studio import LabelStudioLabelingOperator
    from datacentric_airflow.triggers.label_studio import LabelStudioProjectTrigger

    end = datetime(2026, 10, 31, tzinfo=UTC)
    job = job_of(end)
    op = LabelStudioLabelingOperator(task_id="label", manifest=str(project.manifest))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(end))
    trigger = deferred.value.trigger
    assert isinstance(trigger, LabelStudioProjectTrigger) and trigger.job_name == job
    assert (trigger.label_studio_conn_id, trigger.poll_interval) == (CONN_ID, 1)

    # One project for the round, overlap 3, the config generated from the label task, the items as tasks.
    [created] = projects_titled(label_studio, job)
    details = admin(label_studio).get(f"{label_studio.url}/api/projects/{created['id']}", timeout=30).json()
    assert details["maximum_annotations"] == 3 and all(f'value="{c}"' in details["label_config"] for c in CLASSES)
    items = pd.read_parquet(project.repo.path("labels", f"sentiment/items/{job}.parquet"))
    assert task_items(label_studio, created["id"]) == sorted(items["task"]) and len(items) == 6

    # A retry of the task finds the project: no second project, no task imported twice.
    with pytest.raises(TaskDeferred):
        LabelStudioLabelingOperator(task_id="label", manifest=str(project.manifest)).execute(context(end))
    assert len(projects_titled(label_studio, job)) == 1 and len(task_items(label_studio, created["id"])) == 6

    submitted = annotate_all(label_studio, created["id"], annotators)
    event = run_trigger(trigger)
    assert event["status"] == "success" and (event["done"], event["total"]) == (6, 6)

    result = op.execute_complete(context(end), event)
    votes = pd.read_parquet(project.repo.path("labels", f"sentiment/votes/{job}.parquet"))
    expected = sorted((i, e, lab) for i, e, lab in submitted if lab in CLASSES)
    assert sorted(map(tuple, votes[["task", "worker", "label"]].to_numpy())) == expected
    assert set(votes["worker"]) <= set(annotators) and votes.groupby("task").size().min() >= 2
    rejected = pd.read_parquet(project.repo.path("labels", f"sentiment/responses_rejected/{job}.parquet"))
    assert sorted(rejected["reason"]) == ['label outside the category set ["negative", "neutral", "positive"]',
                                          "the annotator skipped the task"]
    assert len(submitted) == len(votes) + len(rejected) == result["votes"] + result["rejected"]
    export = json.loads(project.repo.path("labels", f"sentiment/responses/{job}/export.json").read_text())
    assert sum(len(t["annotations"]) for t in export) == len(submitted)

    summary = consolidate_round(load_manifest(project.manifest), project.repo, job_name=job, run_id="r", created_at=end)
    assert summary.votes_in == summary.votes_used == len(votes) and summary.items == 6
    labels = pd.read_parquet(project.repo.path("labels", f"sentiment/consolidated/{job}.parquet"))
    # Three careful annotators outvote the one who answers wrongly.
    assert (labels["label"] == labels["task"].map(TRUTH)).mean() >= 5 / 6

    again = LabelStudioLabelingOperator(task_id="label", manifest=str(project.manifest)).execute(context(end))
    assert again["reused"] and again["votes"] == len(votes) and len(projects_titled(label_studio, job)) == 1


def test_a_try_killed_during_the_import_is_completed(label_studio: SimpleNamespace, project: SimpleNamespace) -> None:
    from datacentric.labeling.backends.label_studio import LabelStudioClient, labeling_config, task_payload
    from datacentric.labeling.rounds import select_items
    from datacentric.manifest import load_manifest
    from datacentric_airflow.operators.labeling import LabelingRoundOperator

    end = datetime(2026, 11, 1, tzinfo=UTC)
    job = job_of(end)
    loaded = load_manifest(project.manifest)
    items = select_items(loaded, project.repo)
    project.repo.publish_frame("labels", f"sentiment/items/{job}.parquet", items)
    client = LabelStudioClient(label_studio.url, label_studio.token)
    created = client.create_project(job, labeling_config(loaded.spec.label_task), maximum_annotations=3)
    client.import_tasks(created["id"], task_payload(items.head(2)))  # then the try was killed

    with pytest.raises(TaskDeferred):  # the generic round operator, reading the backend from the manifest
        LabelingRoundOperator(task_id="label", manifest=str(project.manifest)).execute(context(end))
    assert len(projects_titled(label_studio, job)) == 1
    assert task_items(label_studio, created["id"]) == sorted(items["task"])
