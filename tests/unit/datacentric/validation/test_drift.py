"""Schema drift: observed schemas, the changes against the accepted one, and what each policy does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from datacentric.manifest.model import FileSource
from datacentric.validation.drift import (
    compare,
    detect_drift,
    logical_type,
    observe_schema,
    read_schema_document,
    schema_document,
)


def spec(columns: dict, policy: str = "fail") -> FileSource:
    return FileSource.model_validate({
        "type": "file", "owner": "tests", "location": {"path": "x", "format": "parquet"}, "keys": ["id"],
        "columns": columns, "validation": {"drift": policy},
    })


COLUMNS = {"id": {"type": "int", "nullable": False}, "name": {"type": "str"}, "at": {"type": "timestamp"}}


def frame(**extra) -> pd.DataFrame:
    data = {
        "id": pd.array([1, 2, 3], dtype="Int64"),
        "name": pd.Series(["a", None, "c"], dtype=object),
        "at": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
    }
    return pd.DataFrame({**data, **extra})


@pytest.mark.parametrize(
    ("values", "declared", "expected"),
    [
        (pd.array([1, None], dtype="Int64"), None, "int"),
        (np.array([1, 2]), None, "int"),
        (np.array([1.5, np.nan]), None, "float"),
        (pd.array([True, None], dtype="boolean"), None, "bool"),
        (pd.to_datetime(["2026-01-01"], utc=True), None, "timestamp"),
        (pd.to_datetime(["2026-01-01"]), None, "timestamp"),
        (pd.to_datetime(["2026-01-01"]), "date", "date"),
        (pd.Series(["a", None], dtype=object), None, "str"),
        (pd.Series(["a", 1], dtype=object), None, "mixed"),
        (pd.Series([1, 2.5], dtype=object), None, "float"),
        (pd.Series([None, None], dtype=object), None, "null"),
        (pd.Series(["a", 1], dtype=object), "str", "str"),  # declared and typed by ingestion: not scanned
    ],
)
def test_logical_types(values, declared, expected) -> None:
    assert logical_type(pd.Series(values), declared) == expected


def test_observed_schema_records_what_the_manifest_declares() -> None:
    observed = observe_schema(frame(extra=pd.Series([1, 2, 3])), dict(spec(COLUMNS).columns))
    assert observed == {
        "id": {"type": "int", "declared": "int"},
        "name": {"type": "str", "declared": "str"},
        "at": {"type": "timestamp", "declared": "timestamp"},
        "extra": {"type": "int", "declared": None},
    }


def test_the_first_run_has_nothing_to_compare_and_accepts() -> None:
    report = detect_drift("s", spec(COLUMNS), frame(), None)
    assert report.changes == () and report.accepts and not report.fails and not report.warns
    again = detect_drift("s", spec(COLUMNS), frame(), report.observed)
    assert again.summary() == report.summary()  # a re-run over the same data reads the same


def test_new_missing_and_retyped_undeclared_columns_are_drift() -> None:
    source = spec(COLUMNS)
    accepted = observe_schema(frame(coupon=pd.Series(["x", "y", "z"]), score=pd.Series([1, 2, 3])),
                              dict(source.columns))
    now = frame(score=pd.Series(["1", "2", "three"]), channel=pd.Series(["web", "app", "web"]))
    report = detect_drift("s", source, now, accepted)
    changes = {(c.column, c.change, c.before, c.after, c.by_manifest) for c in report.changes}
    assert changes == {
        ("score", "retyped", "int", "str", False),
        ("channel", "new", None, "str", False),
        ("coupon", "missing", "str", None, False),
    }
    assert report.fails and not report.accepts
    assert sorted(report.messages()) == [
        "schema drift: column 'score' retyped from int to str: fails the gate",
        "schema drift: missing column 'coupon' (was str): fails the gate",
        "schema drift: new column 'channel' (str): fails the gate",
    ]


def test_changes_the_manifest_asked_for_are_not_drift() -> None:
    before = spec(COLUMNS)
    accepted = observe_schema(frame(score=pd.Series(["1", "2", "3"]), gone=pd.Series([1, 2, 3])),
                              dict(before.columns))
    # The manifest now declares `score` as an int, `extra` as a new column, and no longer `name`.
    columns = {**{k: v for k, v in COLUMNS.items() if k != "name"}, "score": {"type": "int"},
               "extra": {"type": "float"}}
    after = spec(columns)
    now = frame(score=pd.array([1, 2, 3], dtype="Int64"), extra=np.array([0.5, 1.5, 2.5]),
                gone=pd.Series([1, 2, 3])).drop(columns="name")
    report = detect_drift("s", after, now, accepted)
    assert {(c.column, c.change, c.by_manifest) for c in report.changes} == {
        ("score", "retyped", True), ("extra", "new", True), ("name", "missing", True),
    }
    assert report.drift == () and report.accepts and not report.fails
    assert "schema: column 'score' retyped from str to int (the manifest changed)" in report.messages()


def test_a_declared_column_missing_from_the_data_is_drift_not_a_manifest_change() -> None:
    source = spec(COLUMNS)
    accepted = observe_schema(frame(), dict(source.columns))
    report = detect_drift("s", source, frame().drop(columns="at"), accepted)
    assert [(c.column, c.change, c.by_manifest) for c in report.changes] == [("at", "missing", False)]


@pytest.mark.parametrize(
    ("policy", "fails", "warns", "accepts", "outcome"),
    [
        ("fail", True, False, False, "fail"),
        ("warn", False, True, False, "warn"),
        ("evolve", False, False, True, "pass"),
    ],
)
def test_each_policy(policy: str, fails: bool, warns: bool, accepts: bool, outcome: str) -> None:
    source = spec(COLUMNS, policy)
    accepted = observe_schema(frame(), dict(source.columns))
    report = detect_drift("s", source, frame(extra=pd.Series([1, 2, 3])), accepted)
    assert (report.fails, report.warns, report.accepts) == (fails, warns, accepts)
    assert report.summary()["outcome"] == outcome
    # Without drift every policy passes and accepts.
    quiet = detect_drift("s", source, frame(), accepted)
    assert (quiet.fails, quiet.warns, quiet.accepts) == (False, False, True)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="drift policy must be one of fail, warn, evolve, not 'ignore'"):
        compare("s", "ignore", None, {}, {})


def test_schema_documents_are_stable_bytes_and_read_back() -> None:
    observed = observe_schema(frame(), dict(spec(COLUMNS).columns))
    data = schema_document("s", observed)
    assert data == schema_document("s", dict(reversed(list(observed.items()))))
    assert read_schema_document(data, "schema.json") == observed
    with pytest.raises(ValueError, match="schema.json: unreadable accepted schema"):
        read_schema_document(json.dumps({"columns": {"a": 1}}).encode(), "schema.json")
    with pytest.raises(ValueError, match="schema.json: unreadable accepted schema"):
        read_schema_document(b"{not json", "schema.json")
