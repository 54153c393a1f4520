"""A self-hosted Label Studio server as a labeling backend.

A round is one Label Studio project titled with the job name: its labeling config is generated from
the label task (the text and one single-choice question over the classes), its overlap is the task's
workers_per_item (`maximum_annotations`), and each item is a task carrying `item_id` and `text`.
The round is complete when every task has its N annotations; the export (JSON, with each
annotation's `completed_by` annotator) becomes the vote table, annotators named by their e-mail.

`LabelStudioClient` speaks Label Studio's REST API with `requests` and token authentication
("Authorization: Token ..."); the token comes from the caller (an Airflow connection), never from
the manifest, and never appears in an error message.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Literal

import pandas as pd

from datacentric.errors import LabelingError
from datacentric.labeling.backends.base import CollectedVotes, JobHandle, JobStatus, LabelingBackend
from datacentric.manifest.model import LabelTask

TEXT_NAME = "text"  # the labeling config's <Text name>, and the task data key holding the text
CHOICE_NAME = "label"  # the <Choices name>: the from_name of every result
ITEM_KEY = "item_id"  # the task data key holding the project's item id
IMPORT_BATCH = 1000


class LabelStudioError(LabelingError):
    """A request to Label Studio failed; the message names the method, path and answer."""


class LabelStudioClient:
    """A small client for the parts of Label Studio's REST API a labeling round needs.

    :param url: the server's base URL, e.g. http://127.0.0.1:8081
    :param token: an API token (legacy token authentication)
    :param session: a requests.Session to reuse (tests, connection pooling)
    :param timeout: seconds per request
    """

    def __init__(self, url: str, token: str, *, session: Any = None, timeout: float = 60.0) -> None:
        import requests

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def __repr__(self) -> str:  # the token stays out of logs
        return f"LabelStudioClient({self.url!r})"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        try:
            answer = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise LabelStudioError(f"Label Studio at {self.url} is not reachable ({method} {path}): "
                                   f"{type(exc).__name__}") from None
        if answer.status_code >= 400:
            detail = answer.text[:500].replace("\n", " ")
            raise LabelStudioError(f"Label Studio {method} {path}: HTTP {answer.status_code}: {detail}")
        if not answer.content:
            return None
        try:
            return answer.json()
        except ValueError:
            raise LabelStudioError(f"Label Studio {method} {path}: the answer is not JSON") from None

    # -- the API --------------------------------------------------------------------------------

    def health(self) -> bool:
        try:
            return self.request("GET", "/health") is not None
        except LabelStudioError:
            return False

    def find_project(self, title: str) -> dict[str, Any] | None:
        """The project titled exactly `title`, or None (the API's title filter is a substring match)."""
        page = 1
        while True:
            answer = self.request("GET", "/api/projects", params={"title": title, "page": page, "page_size": 100})
            results = answer.get("results", []) if isinstance(answer, dict) else answer
            for project in results:
                if project.get("title") == title:
                    return project
            if not isinstance(answer, dict) or not answer.get("next"):
                return None
            page += 1

    def create_project(self, title: str, label_config: str, *, maximum_annotations: int,
                       instructions: str = "") -> dict[str, Any]:
        return self.request("POST", "/api/projects", json={
            "title": title,
            "label_config": label_config,
            "expert_instruction": instructions,
            "show_instruction": bool(instructions),
            "maximum_annotations": maximum_annotations,
            "overlap_cohort_percentage": 100,  # every task gets the full overlap
            "show_skip_button": True,
        })

    def project(self, project_id: int) -> dict[str, Any]:
        return self.request("GET", f"/api/projects/{project_id}")

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task of a project (id and data), page by page."""
        tasks: list[dict[str, Any]] = []
        page = 1
        while True:
            try:
                answer = self.request("GET", "/api/tasks", params={"project": project_id, "page": page,
                                                                    "page_size": 1000})
            except LabelStudioError as exc:
                if "HTTP 404" in str(exc) and page > 1:  # past the last page
                    return tasks
                raise
            batch = answer.get("tasks", []) if isinstance(answer, dict) else answer
            tasks += batch
            total = answer.get("total", len(tasks)) if isinstance(answer, dict) else len(tasks)
            if not batch or len(tasks) >= total:
                return tasks
            page += 1

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        imported = 0
        for start in range(0, len(tasks), IMPORT_BATCH):
            answer = self.request("POST", f"/api/projects/{project_id}/import", json=tasks[start:start + IMPORT_BATCH])
            imported += int((answer or {}).get("task_count", 0))
        return imported

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every task with its annotations (Label Studio's JSON export)."""
        answer = self.request("GET", f"/api/projects/{project_id}/export",
                              params={"exportType": "JSON", "download_all_tasks": "true"})
        if not isinstance(answer, list):
            raise LabelStudioError(f"Label Studio export of project {project_id}: expected a list of tasks")
        return answer

    def users(self) -> dict[int, str]:
        """Annotator id -> e-mail, for the organization's members."""
        answer = self.request("GET", "/api/users/")
        users = answer.get("results", []) if isinstance(answer, dict) else answer
        return {int(u["id"]): str(u.get("email") or u.get("username") or u["id"]) for u in users}

    def project_url(self, project_id: int) -> str:
        return f"{self.url}/projects/{project_id}/data"


# -- labeling config and export --------------------------------------------------------------------


def labeling_config(task: LabelTask) -> str:
    """The project's labeling interface: instructions, the item's text, one required single choice."""
    view = ET.Element("View")
    if task.instructions:
        ET.SubElement(view, "Header", value=task.instructions)
    ET.SubElement(view, "Text", name=TEXT_NAME, value=f"${TEXT_NAME}")
    choices = ET.SubElement(view, "Choices", name=CHOICE_NAME, toName=TEXT_NAME, choice="single",
                            required="true", showInLine="true")
    for cls in task.classes:
        ET.SubElement(choices, "Choice", value=cls)
    return ET.tostring(view, encoding="unicode")


def task_payload(items: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"data": {ITEM_KEY: str(item), TEXT_NAME: "" if text is None else str(text)}}
            for item, text in zip(items["task"], items["text"], strict=True)]


def parse_export(
    export: list[dict[str, Any]], *, classes: list[str], users: dict[int, str], items: set[str], origin: str
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str, str]]]:
    """Votes (task, worker, label) from a JSON export; every other annotation is rejected with its
    reason: skipped, empty, several choices, a label outside the category set, a task that was not
    part of the round. Never raises on bad content."""
    votes: list[tuple[str, str, str]] = []
    rejected: list[tuple[str, str, str, str, str]] = []
    for position, entry in enumerate(export):
        if not isinstance(entry, dict):
            rejected.append(("", "", "", "exported task is not a JSON object", f"{origin}[{position}]"))
            continue
        data = entry.get("data")
        if not isinstance(data, dict):
            data = {}
        item = str(data.get(ITEM_KEY, "")).strip()
        task_where = f"{origin}: task {entry.get('id')}"
        annotations = entry.get("annotations") or []
        for annotation in annotations if isinstance(annotations, list) else []:
            where = f"{task_where}, annotation {annotation.get('id') if isinstance(annotation, dict) else '?'}"
            if not isinstance(annotation, dict):
                rejected.append((item, "", "", "annotation is not a JSON object", where))
                continue
            worker = _annotator(annotation.get("completed_by"), users)
            if not item:
                rejected.append(("", worker, "", f"task has no {ITEM_KEY!r} in its data", where))
                continue
            if item not in items:
                rejected.append((item, worker, "", "item was not part of the round", where))
                continue
            if not worker:
                rejected.append((item, "", "", "annotation has no annotator (completed_by)", where))
                continue
            if annotation.get("was_cancelled"):
                rejected.append((item, worker, "", "the annotator skipped the task", where))
                continue
            chosen = [
                choice
                for result in annotation.get("result") or []
                if isinstance(result, dict) and result.get("from_name") == CHOICE_NAME
                for choice in ((result.get("value") or {}).get("choices") or [])
            ]
            if not chosen:
                rejected.append((item, worker, "", "annotation has no choice", where))
            elif len(chosen) > 1:
                rejected.append((item, worker, json.dumps(chosen), "annotation has several choices", where))
            elif chosen[0] not in classes:
                rejected.append((item, worker, str(chosen[0]),
                                 "label outside the category set " + json.dumps(classes), where))
            else:
                votes.append((item, worker, chosen[0]))
    return votes, rejected


def _annotator(completed_by: Any, users: dict[int, str]) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id") or "")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return users.get(completed_by, f"label-studio-user-{completed_by}")
    return ""


# -- the backend -----------------------------------------------------------------------------------


class LabelStudioBackend(LabelingBackend):
    """Rounds as Label Studio projects. Resources: `client`, a LabelStudioClient."""

    type = "label_studio"

    @property
    def client(self) -> LabelStudioClient:
        return self._resource("client")

    def _project(self, job_name: str) -> dict[str, Any] | None:
        return self.client.find_project(job_name)

    def submit(self, job_name: str, items: pd.DataFrame) -> JobHandle:
        project = self._project(job_name)
        existing = project is not None
        if project is None:
            project = self.client.create_project(job_name, labeling_config(self.task),
                                                 maximum_annotations=self.task.workers_per_item,
                                                 instructions=self.task.instructions)
        # Import only what the project lacks, so a try killed in the middle of an import completes it.
        present = {str((t.get("data") or {}).get(ITEM_KEY)) for t in self.client.tasks(project["id"])}
        missing = items[~items["task"].astype(str).isin(present)]
        if len(missing):
            self.client.import_tasks(project["id"], task_payload(missing))
        return JobHandle(job_name, str(project["id"]), self.client.project_url(project["id"]), existing=existing)

    def status(self, job_name: str) -> JobStatus:
        found = self._project(job_name)
        if found is None:
            return JobStatus(job_name, "failed", message=f"no Label Studio project titled {job_name!r}")
        project = self.client.project(found["id"])
        total = int(project.get("task_number") or 0)
        done = int(project.get("finished_task_number") or 0)
        state: Literal["in_progress", "completed"] = "completed" if total and done >= total else "in_progress"
        return JobStatus(job_name, state, done, total, f"{done} of {total} tasks have their annotations")

    def collect(self, job_name: str, items: pd.DataFrame) -> CollectedVotes:
        project = self._project(job_name)
        if project is None:
            raise LabelingError(f"no Label Studio project titled {job_name!r} to collect")
        export = self.client.export(project["id"])
        origin = f"{self.client.url} project {project['id']} ({job_name})"
        votes, rejected = parse_export(export, classes=list(self.task.classes), users=self.client.users(),
                                       items=set(items["task"].astype(str)), origin=origin)
        messages = [] if votes or rejected else [f"Label Studio project {job_name} returned no annotations"]
        raw = {"export.json": json.dumps(export, sort_keys=True, ensure_ascii=False).encode("utf-8")}
        return CollectedVotes.from_rows(votes, rejected, raw=raw, messages=messages)
