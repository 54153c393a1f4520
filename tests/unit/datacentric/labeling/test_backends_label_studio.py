"""The Label Studio backend's pure parts: the labeling config generated from the label task, the
task payload, and the export parser (every annotation a vote or a rejected response with a reason).
The client itself is tested against a real server in tests/integration/test_label_studio.py."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from datacentric.labeling.backends.label_studio import (
    LabelStudioClient,
    LabelStudioError,
    labeling_config,
    parse_export,
    task_payload,
)
from datacentric.manifest import parse_manifest

LABEL_TASK = """\
  name: sentiment
  classes: [negative, "so-so & <meh>", positive]
  instructions: Pick the customer's "mood"
  backend: label_studio
  label_studio: {}
"""


def test_labeling_config_from_the_label_task(reviews_manifest) -> None:
    task = parse_manifest(reviews_manifest(LABEL_TASK)).spec.label_task
    view = ET.fromstring(labeling_config(task))
    assert view.tag == "View" and view.find("Header").get("value") == "Pick the customer's \"mood\""
    assert view.find("Text").attrib == {"name": "text", "value": "$text"}
    choices = view.find("Choices")
    assert (choices.get("name"), choices.get("toName"), choices.get("choice"), choices.get("required")) == (
        "label", "text", "single", "true")
    assert [c.get("value") for c in choices.findall("Choice")] == task.classes


def test_task_payload_carries_item_id_and_text() -> None:
    items = pd.DataFrame({"task": ["R1", 7], "text": ["good", None]})
    assert task_payload(items) == [{"data": {"item_id": "R1", "text": "good"}}, {"data": {"item_id": "7", "text": ""}}]


def annotation(annotation_id: int, user, choices=None, **extra) -> dict:
    result = [] if choices is None else [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": choices}}]
    return {"id": annotation_id, "completed_by": user, "result": result, "was_cancelled": False, **extra}


def test_export_every_annotation_is_a_vote_or_a_reason() -> None:
    classes = ["neg", "pos"]
    export = [
        {"id": 1, "data": {"item_id": "R1", "text": "x"}, "annotations": [
            annotation(1, 2, ["pos"]),
            annotation(2, {"id": 3, "email": "cat@example.com"}, ["neg"]),
            annotation(3, 4, ["great"]),
            annotation(4, 5, ["neg", "pos"]),
            annotation(5, 6, []),
            annotation(6, 7, was_cancelled=True),
            annotation(7, None, ["pos"]),
            annotation(8, 99, ["neg"]),
        ]},
        {"id": 2, "data": {"item_id": "ZZ"}, "annotations": [annotation(9, 2, ["pos"])]},
        {"id": 3, "data": {"text": "no id"}, "annotations": [annotation(10, 2, ["pos"])]},
        {"id": 4, "data": {"item_id": "R2"}, "annotations": []},
        "garbage",
    ]
    users = {2: "ann@example.com", 4: "bob@example.com", 5: "eve@example.com", 6: "dan@example.com",
             7: "fay@example.com"}
    votes, rejected = parse_export(export, classes=classes, users=users, items={"R1", "R2"}, origin="ls")
    assert votes == [("R1", "ann@example.com", "pos"), ("R1", "cat@example.com", "neg"),
                     ("R1", "label-studio-user-99", "neg")]
    reasons = [r[3] for r in rejected]
    assert reasons == [
        'label outside the category set ["neg", "pos"]',
        "annotation has several choices",
        "annotation has no choice",
        "the annotator skipped the task",
        "annotation has no annotator (completed_by)",
        "item was not part of the round",
        "task has no 'item_id' in its data",
        "exported task is not a JSON object",
    ]
    assert rejected[0][:3] == ("R1", "bob@example.com", "great") and rejected[0][4] == "ls: task 1, annotation 3"
    assert len(votes) + len(rejected) == 11  # 10 annotations + one unreadable task


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_errors_name_the_request_but_never_the_token() -> None:
    client = LabelStudioClient(f"http://127.0.0.1:{_closed_port()}/", "secret-token-123")
    assert "secret-token-123" not in repr(client)
    with pytest.raises(LabelStudioError, match=r"is not reachable \(GET /api/projects\)") as caught:
        client.find_project("x")
    assert "secret-token-123" not in str(caught.value)
    assert client.health() is False
