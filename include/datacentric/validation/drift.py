"""Schema drift: a source's columns and types against the last schema its gate accepted, and the
source's policy (fail, warn, evolve). Design note: docs/explanation/validation-rules.md (Schema drift)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

POLICIES = ("fail", "warn", "evolve")
Change = Literal["new", "missing", "retyped"]


@dataclass(frozen=True)
class ColumnChange:
    """One difference between the accepted schema and the observed one."""

    column: str
    change: Change
    before: str | None  # logical type in the accepted schema
    after: str | None  # logical type now
    by_manifest: bool  # the manifest's declaration of the column changed: expected, not drift

    def describe(self) -> str:
        why = " (the manifest changed)" if self.by_manifest else ""
        if self.change == "new":
            return f"new column {self.column!r} ({self.after}){why}"
        if self.change == "missing":
            return f"missing column {self.column!r} (was {self.before}){why}"
        return f"column {self.column!r} retyped from {self.before} to {self.after}{why}"

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "change": self.change, "before": self.before, "after": self.after,
                "by_manifest": self.by_manifest}


@dataclass(frozen=True)
class DriftReport:
    """The schema check of one source: what changed, and what the policy makes of it."""

    source: str
    policy: str
    accepted: dict[str, dict[str, Any]] | None  # the schema accepted before this run (None: first run)
    observed: dict[str, dict[str, Any]]
    changes: tuple[ColumnChange, ...]

    @property
    def drift(self) -> tuple[ColumnChange, ...]:
        """The changes the manifest did not ask for."""
        return tuple(c for c in self.changes if not c.by_manifest)

    @property
    def fails(self) -> bool:
        return bool(self.drift) and self.policy == "fail"

    @property
    def warns(self) -> bool:
        return bool(self.drift) and self.policy == "warn"

    @property
    def accepts(self) -> bool:
        """Whether the observed schema may replace the accepted one (if the gate passes)."""
        return not self.drift or self.policy == "evolve"

    def messages(self) -> list[str]:
        """One sentence per change, saying what the policy did with it."""
        verdict = {"fail": "fails the gate", "warn": "warning", "evolve": "accepted (evolve)"}[self.policy]
        return [f"schema drift: {c.describe()}: {verdict}" if not c.by_manifest else f"schema: {c.describe()}"
                for c in self.changes]

    def summary(self) -> dict[str, Any]:
        # Nothing here says whether an accepted schema existed: the first run and a re-run over the same
        # data must give the same summary, byte for byte.
        return {
            "policy": self.policy,
            "changes": [c.as_dict() for c in self.changes],
            "drift": len(self.drift),
            "outcome": "fail" if self.fails else "warn" if self.warns else "pass",
        }


def observe_schema(frame: pd.DataFrame, declared: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each column of `frame` -> {"type": logical type, "declared": manifest type or None}.

    `declared` maps the manifest's column names to their Column specs. A declared column whose dtype
    fits its declared type reads as that type without looking at the values.
    """
    schema = {}
    for column in frame.columns:
        spec = declared.get(column)
        declared_type = spec.type if spec is not None else None
        schema[str(column)] = {"type": logical_type(frame[column], declared_type), "declared": declared_type}
    return schema


def logical_type(values: pd.Series, declared: str | None = None) -> str:
    """The manifest-style type of a column's values (`mixed` when several, `null` when none)."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        kind = "bool"
    elif pd.api.types.is_integer_dtype(dtype):
        kind = "int"
    elif pd.api.types.is_float_dtype(dtype):
        kind = "float"
    elif isinstance(dtype, pd.DatetimeTZDtype):
        kind = "timestamp"
    elif pd.api.types.is_datetime64_dtype(dtype):
        kind = "date" if declared == "date" else "timestamp"
    elif pd.api.types.is_string_dtype(dtype) and declared == "str":
        kind = "str"  # declared and typed by ingestion: no need to look at every value
    else:
        kind = _INFERRED.get(pd.api.types.infer_dtype(values, skipna=True), "mixed")
    return kind


_INFERRED = {
    "string": "str",
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "boolean": "bool",
    "datetime64": "timestamp",
    "datetime": "timestamp",
    "date": "date",
    "empty": "null",
}


def compare(
    source: str,
    policy: str,
    accepted: dict[str, dict[str, Any]] | None,
    observed: dict[str, dict[str, Any]],
    declared: dict[str, str],
) -> DriftReport:
    """The changes from the accepted schema to the observed one, judged by `policy`.

    `declared` maps the columns the manifest declares now to their types: a change that follows a
    change of declaration is the manifest's doing, not drift.
    """
    if policy not in POLICIES:
        raise ValueError(f"source {source!r}: drift policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    changes: list[ColumnChange] = []
    if accepted is not None:
        for column, now in observed.items():
            before = accepted.get(column)
            if before is None:
                changes.append(ColumnChange(column, "new", None, now["type"], column in declared))
            elif before["type"] != now["type"]:
                changes.append(ColumnChange(column, "retyped", before["type"], now["type"],
                                            before.get("declared") != declared.get(column)))
        for column, before in accepted.items():
            if column not in observed:
                changes.append(ColumnChange(column, "missing", before["type"], None,
                                            before.get("declared") is not None and column not in declared))
    return DriftReport(source=source, policy=policy, accepted=accepted, observed=observed, changes=tuple(changes))


def detect_drift(
    source: str, spec: Any, frame: pd.DataFrame, accepted: dict[str, dict[str, Any]] | None
) -> DriftReport:
    """Observe `frame`'s schema and compare it with the accepted one under the source's drift policy."""
    settings = getattr(spec, "validation", None)
    policy = getattr(settings, "drift", "fail")
    declared = {name: column.type for name, column in spec.columns.items()}
    return compare(source, policy, accepted, observe_schema(frame, dict(spec.columns)), declared)


def schema_document(source: str, schema: dict[str, dict[str, Any]]) -> bytes:
    """The accepted schema as stored: stable JSON (sorted keys), so an unchanged schema is unchanged bytes."""
    return (json.dumps({"source": source, "columns": schema}, indent=2, sort_keys=True) + "\n").encode()


def read_schema_document(data: bytes, where: str) -> dict[str, dict[str, Any]]:
    """The columns of a stored schema document; a clear error naming `where` when it is unreadable."""
    try:
        document = json.loads(data)
        columns = document["columns"]
        if not isinstance(columns, dict) or not all(isinstance(v, dict) and "type" in v for v in columns.values()):
            raise ValueError("'columns' must map each column to {type, declared}")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: unreadable accepted schema: {exc}") from None
    return columns
