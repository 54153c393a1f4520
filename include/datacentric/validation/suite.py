"""Great Expectations suites generated from the manifest, run on a typed frame, splitting it into
valid and quarantined rows with their reasons. Design note, the rules and where the time goes:
docs/explanation/validation-rules.md."""

from __future__ import annotations

import contextlib
import copy
import difflib
import fcntl
import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import yaml

from datacentric.errors import ManifestError, ValidationGateError
from datacentric.hashing import sha256_text

if TYPE_CHECKING:
    import great_expectations as gx

logger = logging.getLogger(__name__)

REASONS_COLUMN = "_reasons"
SAMPLE_SIZE = 5
DOCS_SITE = "local_site"
DOCS_FOLDER = Path("gx") / "uncommitted" / "data_docs" / DOCS_SITE  # under gx_root
ASSET_NAME = "frame"
BATCH_DEFINITION_NAME = "whole_frame"
# The Data Docs index lists at most this many validation runs (older run pages stay on disk). Without
# a limit, every index rebuild reads every stored result, so its cost would grow with the history.
DOCS_INDEX_RUNS = 200
# COMPLETE: every failing row's position. The index query would repeat every position in a string.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": 20,
    "return_unexpected_index_query": False,
}
SEVERITIES = ("critical", "warning", "info")
_LOCK_FILE = ".datacentric-gx.lock"
_NUMERIC = ("int", "float")
_FLOAT_EXACT = 2**53  # integers up to this size are exact in a float64


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """What one validation run found. `valid` and `quarantined` partition the input rows."""

    source: str
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    success: bool
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    expectations: list[dict[str, Any]]
    data_docs: str | None
    data_docs_page: str | None = None
    suite: str = ""
    run_id: str = ""
    max_quarantine_fraction: float = 0.0
    # Why the gate failed, one plain sentence each; empty when success is True.
    problems: list[str] = field(default_factory=list)
    # What is worth knowing but does not fail the gate (warning-severity rules).
    warnings: list[str] = field(default_factory=list)
    # Which input rows were quarantined (True) or are valid (False), by position.
    flags: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rows_in != self.rows_valid + self.rows_quarantined:
            raise AssertionError(
                f"source {self.source!r}: rows_in {self.rows_in} != valid {self.rows_valid} "
                f"+ quarantined {self.rows_quarantined}"
            )

    @property
    def quarantine_fraction(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    @property
    def failed_expectations(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if not e["success"]]

    def summary(self) -> dict[str, Any]:
        """JSON-able digest of the run (no frames): counts, gate outcome, failed rules, Data Docs."""
        return {
            "source": self.source,
            "suite": self.suite,
            "run_id": self.run_id,
            "rows_in": self.rows_in,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_fraction": round(self.quarantine_fraction, 6),
            "max_quarantine_fraction": self.max_quarantine_fraction,
            "success": self.success,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "expectations_evaluated": len(self.expectations),
            "failed_expectations": self.failed_expectations,
            "data_docs": self.data_docs,
            "data_docs_page": self.data_docs_page,
        }


# -- expectations declared in YAML -------------------------------------------------------------


@dataclass(frozen=True)
class CustomExpectation:
    """One expectation a source declares beside the manifest; `where` is its file and line."""

    type: str
    kwargs: dict[str, Any]
    severity: str = "critical"
    description: str | None = None
    where: str = ""


_ENTRY_KEYS = ("type", "kwargs", "severity", "description")
_COLUMN_ARGUMENTS = ("column", "column_A", "column_B")


def load_expectations(path: Path | str, name: str, source: Any) -> list[CustomExpectation]:
    """The expectations the YAML file at `path` declares for source `name`, checked against GX.

    The file maps source names to lists of entries::

        reviews:
          - type: expect_column_value_lengths_to_be_between
            kwargs: {column: text, min_value: 1, max_value: 5000}
            severity: warning            # optional: critical (default), warning, info
            description: Reviews are never empty.

    Every error names the file, the line and the entry, and says what was expected: an unknown
    expectation type (with the closest known names), arguments Great Expectations refuses, a column the
    source does not declare. A file without a section for `name` declares nothing for it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: expectations file not found (source {name!r}, validation.expectations)") from None
    try:
        document = yaml.safe_load(text)
        lines = _line_index(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ManifestError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if document is None:
        return []
    if not isinstance(document, dict):
        raise ManifestError(f"{path}:1: expected a mapping of source name -> list of expectations")
    entries = document.get(name)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ManifestError(f"{path}:{lines.get((name,), '?')}: {name}: expected a list of expectations")
    _gx()  # importing Great Expectations fills its registry of expectation types
    return [_parse_entry(entry, path, lines, name, i, source) for i, entry in enumerate(entries)]


def _parse_entry(
    entry: Any, path: Path, lines: dict[tuple[str | int, ...], int], name: str, i: int, source: Any
) -> CustomExpectation:
    """One entry of an expectations file, checked; errors point at the line of the offending field."""
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    def at(*field_path: str | int) -> str:
        """file:line of the deepest part of `field_path` the file has."""
        for depth in range(len(field_path), -1, -1):
            line = lines.get((name, i, *field_path[:depth]))
            if line is not None:
                return f"{path}:{line}"
        return f"{path}:{lines.get((name,), '?')}"

    label = f"{name}[{i}]"
    if not isinstance(entry, dict):
        raise ManifestError(f"{at()}: {label}: expected a mapping with 'type' and 'kwargs'")
    unknown = sorted(set(entry) - set(_ENTRY_KEYS))
    if unknown:
        raise ManifestError(f"{at(unknown[0])}: {label}: unknown field(s) {unknown}; fields are {list(_ENTRY_KEYS)}")
    kind = entry.get("type")
    if not isinstance(kind, str) or not kind:
        raise ManifestError(f"{at('type')}: {label}.type: expected the name of a Great Expectations expectation")
    try:
        impl = get_expectation_impl(kind)
    except Exception:
        close = difflib.get_close_matches(kind, list_registered_expectation_implementations(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ManifestError(f"{at('type')}: {label}.type: unknown expectation type {kind!r}{hint}") from None
    kwargs = entry.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ManifestError(f"{at('kwargs')}: {label}.kwargs: expected a mapping of argument -> value")
    severity = entry.get("severity", "critical")
    if severity not in SEVERITIES:
        raise ManifestError(f"{at('severity')}: {label}.severity: expected one of {', '.join(SEVERITIES)}, "
                            f"got {severity!r}")
    named = [(argument, kwargs.get(argument)) for argument in _COLUMN_ARGUMENTS if kwargs.get(argument) is not None]
    named += [("column_list", column) for column in kwargs.get("column_list") or []]
    for argument, column in named:
        if column not in source.columns:
            raise ManifestError(f"{at('kwargs', argument)}: {label}.kwargs.{argument}: source {name!r} has no "
                                f"column {column!r} (columns: {', '.join(source.columns)})")
    try:
        impl(**kwargs)
    except Exception as exc:
        message, refused = _gx_error(exc)
        where = at("kwargs", refused) if refused is not None and refused in kwargs else at("kwargs")
        raise ManifestError(f"{where}: {label}.kwargs: {kind} refuses these arguments: {message}") from None
    description = entry.get("description")
    return CustomExpectation(type=kind, kwargs=dict(kwargs), severity=severity,
                             description=None if description is None else str(description), where=at())


def _gx_error(exc: Exception) -> tuple[str, str | None]:
    """A pydantic or GX error as `field: message; ...`, and the first field it names."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            parts, first = [], None
            for error in errors():
                loc = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__")
                first = first or loc or None
                parts.append(f"{loc}: {error.get('msg')}" if loc else str(error.get("msg")))
            if parts:
                return "; ".join(dict.fromkeys(parts)), first
    return str(exc).strip().replace("\n", " "), None


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    from datacentric.manifest.loader import line_index as index

    return index(text)


# -- the suite ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """One expectation of the suite and how it reads in `_reasons`."""

    rule_id: str  # e.g. "rating: expect_column_values_to_be_between(min=1, max=5)"
    type: str
    kwargs: dict[str, Any]
    level: str  # "row" quarantines the rows it flags; "table" only fails the gate
    key: bool = False  # the key-uniqueness rule: any failure fails the gate
    severity: str = "critical"
    description: str | None = None
    origin: str = "manifest"  # or the file name and line of a declared expectation


def _number(value: float, column_type: str) -> int | float:
    if column_type == "int" and float(value).is_integer():
        return int(value)
    return float(value)


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _rules(name: str, source: Any, custom: Sequence[CustomExpectation] = ()) -> list[_Rule]:
    """The rules the manifest and the declared expectations ask of one source, in a stable order."""
    rules: dict[str, _Rule] = {}

    def add(rule: _Rule) -> None:
        rules.setdefault(rule.rule_id, rule)

    keys = list(source.keys)
    for column_name, column in source.columns.items():
        where = f"source {name!r}: column {column_name!r}"
        if not column.nullable or column_name in keys:
            add(_Rule(f"{column_name}: expect_column_values_to_not_be_null()",
                      "expect_column_values_to_not_be_null", {"column": column_name}, "row"))
        if column.unique:
            add(_Rule(f"{column_name}: expect_column_values_to_be_unique()",
                      "expect_column_values_to_be_unique", {"column": column_name}, "row",
                      key=keys == [column_name]))
        if column.min is not None or column.max is not None:
            if column.type not in _NUMERIC:
                raise ManifestError(f"{where}: min/max apply to int and float columns, not {column.type!r}")
            kwargs: dict[str, Any] = {"column": column_name}
            shown = []
            if column.min is not None:
                kwargs["min_value"] = _number(column.min, column.type)
                shown.append(f"min={_show(column.min)}")
            if column.max is not None:
                kwargs["max_value"] = _number(column.max, column.type)
                shown.append(f"max={_show(column.max)}")
            add(_Rule(f"{column_name}: expect_column_values_to_be_between({', '.join(shown)})",
                      "expect_column_values_to_be_between", kwargs, "row"))
        if column.allowed is not None:
            add(_Rule(f"{column_name}: expect_column_values_to_be_in_set(allowed={list(column.allowed)!r})",
                      "expect_column_values_to_be_in_set",
                      {"column": column_name, "value_set": list(column.allowed)}, "row"))
        if column.pattern is not None:
            if column.type != "str":
                raise ManifestError(f"{where}: pattern applies to str columns, not {column.type!r}")
            add(_Rule(f"{column_name}: expect_column_values_to_match_regex(pattern={column.pattern!r})",
                      "expect_column_values_to_match_regex",
                      {"column": column_name, "regex": column.pattern}, "row"))
    if len(keys) == 1:
        add(_Rule(f"{keys[0]}: expect_column_values_to_be_unique()",
                  "expect_column_values_to_be_unique", {"column": keys[0]}, "row", key=True))
    else:
        add(_Rule(f"{'+'.join(keys)}: expect_compound_columns_to_be_unique()",
                  "expect_compound_columns_to_be_unique", {"column_list": keys}, "row", key=True))
    add(_Rule("table: expect_table_row_count_to_be_between(min=1)",
              "expect_table_row_count_to_be_between", {"min_value": 1}, "table"))
    for expectation in custom:
        add(_custom_rule(expectation))
    # A rule first added as plain `unique: true` is still the key rule when it is the only key.
    return [
        _Rule(r.rule_id, r.type, r.kwargs, r.level, True, r.severity, r.description, r.origin)
        if r.type == "expect_column_values_to_be_unique" and keys == [r.kwargs.get("column")] else r
        for r in rules.values()
    ]


def _custom_rule(expectation: CustomExpectation) -> _Rule:
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    impl = get_expectation_impl(expectation.type)
    row_level = issubclass(impl, ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation)
    kwargs = expectation.kwargs
    if "column" in kwargs:
        subject = str(kwargs["column"])
    elif "column_A" in kwargs and "column_B" in kwargs:
        subject = f"{kwargs['column_A']},{kwargs['column_B']}"
    elif "column_list" in kwargs:
        subject = "+".join(map(str, kwargs["column_list"]))
    else:
        subject = "table"
    shown = ", ".join(
        f"{k}={_show(v)}" for k, v in kwargs.items() if k not in ("column", "column_A", "column_B", "column_list")
    )
    return _Rule(f"{subject}: {expectation.type}({shown})", expectation.type, dict(kwargs),
                 "row" if row_level else "table", severity=expectation.severity,
                 description=expectation.description, origin=Path(expectation.where).name)


def build_suite(name: str, source: Any, expectations: Sequence[CustomExpectation] = ()) -> gx.ExpectationSuite:
    """The Great Expectations suite of one source: its schema's rules, then its declared expectations.

    Not yet saved. Each expectation's `meta` carries `rule` (its id in `_reasons`), `level` ("row" or
    "table"), `key` (whether it is the key-uniqueness rule) and `origin` ("manifest" or file name:line).
    """
    gx = _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.metadata_types import FailureSeverity

    suite = gx.ExpectationSuite(name=_suite_name(name))
    for rule in _rules(name, source, expectations):
        config = ExpectationConfiguration(
            type=rule.type,
            kwargs=dict(rule.kwargs),
            meta={"rule": rule.rule_id, "level": rule.level, "key": rule.key, "origin": rule.origin},
            description=rule.description,
            severity=FailureSeverity(rule.severity),
        )
        suite.add_expectation_configuration(config)
    return suite


def suite_fingerprint(name: str, source: Any, expectations: Sequence[CustomExpectation] = ()) -> str:
    """sha256 of the rules a source is judged by: two runs with the same fingerprint ran the same suite."""
    rules = [
        {"id": r.rule_id, "type": r.type, "kwargs": _jsonable(r.kwargs), "level": r.level, "key": r.key,
         "severity": r.severity}
        for r in _rules(name, source, expectations)
    ]
    text = json.dumps({"source": name, "max_quarantine_fraction": float(source.max_quarantine_fraction),
                       "fail_on_duplicate_keys": _fail_on_duplicate_keys(source), "rules": rules}, sort_keys=True)
    return sha256_text(text)


def _fail_on_duplicate_keys(source: Any) -> bool:
    settings = getattr(source, "validation", None)
    return bool(getattr(settings, "fail_on_duplicate_keys", True))


# -- running -----------------------------------------------------------------------------------


def validate_source(
    name: str,
    source: Any,
    frame: pd.DataFrame,
    *,
    gx_root: Path,
    run_id: str,
    build_docs: bool = True,
    expectations: Sequence[CustomExpectation] = (),
) -> ValidationResult:
    """Validate one source's typed frame against its suite and split valid / quarantined rows.

    `expectations` are the source's declared expectations (`load_expectations`). `build_docs=False`
    skips rendering Data Docs (about half the fixed cost of a call); the result is still stored under
    `gx_root`, and the next call that builds docs renders the index with it.

    Safe to call again for the same source and run (everything is added-or-updated; the run gets a
    second result page in Data Docs). Processes validating different sources may share `gx_root`:
    changes to the shared Great Expectations config and the Data Docs are made under a file lock.
    """
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier

    missing = [c for c in source.columns if c not in frame.columns]
    if missing:
        raise ValidationGateError(
            f"source {name!r}: the frame lacks manifest columns {missing} (has {list(frame.columns)})"
        )
    gx_root = Path(gx_root).resolve()
    data = frame.copy(deep=False)  # the same arrays; only the index is new
    data.index = pd.RangeIndex(len(data))  # GX reports index labels; a RangeIndex makes them positions
    suite = build_suite(name, source, expectations)

    with _locked(gx_root):
        context = gx.get_context(mode="file", project_root_dir=str(gx_root))
        _configure_project(context)
        batch_definition = _batch_definition(context, name)
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=_suite_name(name), data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=_suite_name(name),
                validation_definitions=[definition],
                actions=[],  # Data Docs are built below, under the lock
                result_format=dict(RESULT_FORMAT),
            )
        )

    # The costly part runs unlocked: it only writes this run's own result file.
    checkpoint_result = checkpoint.run(
        batch_parameters={"dataframe": _gx_view(data)}, run_id=RunIdentifier(run_name=run_id)
    )
    ((result_id, suite_result),) = checkpoint_result.run_results.items()

    index = page = None
    if build_docs:
        with _locked(gx_root):
            index, page = _build_docs(context, result_id)

    rules = {rule.rule_id: rule for rule in _rules(name, source, expectations)}
    return _assemble(name, source, data, suite_result, rules, run_id=run_id, index=index, page=page)


def _gx_view(data: pd.DataFrame) -> pd.DataFrame:
    """The frame Great Expectations reads: the same values, nullable integers as NumPy numbers and
    text as Arrow strings.

    GX checks ranges of pandas' nullable Int64 columns with one Python call per value, and NumPy
    columns in one vectorized step. Int64 without nulls becomes int64; with nulls, float64 (NaN for
    null) when every value is exact in a float. The frame is built consolidated (one block per dtype):
    GX copies it once per rule and metric, and an unconsolidated frame is merged again on every copy.
    For the same reason an object column holding only strings and nulls is handed over Arrow-backed:
    the null masks, filters and copies GX makes of it per rule then cost a bitmap, not a pass over
    Python objects (about twice as fast on a text-heavy frame); the values, and so the results, are
    the same.
    """
    columns: dict[Any, Any] = {}
    for column in data.columns:
        values = data[column]
        dtype = values.dtype
        numeric = pd.api.types.is_extension_array_dtype(dtype) and pd.api.types.is_numeric_dtype(dtype)
        if pd.api.types.is_object_dtype(dtype):
            columns[column] = _arrow_strings(values)
        elif not numeric or pd.api.types.is_bool_dtype(dtype):
            columns[column] = values
        elif not pd.api.types.is_integer_dtype(dtype):
            columns[column] = values.to_numpy(dtype="float64", na_value=np.nan)
        elif not values.hasnans:
            columns[column] = values.to_numpy(dtype="int64")
        elif values.abs().max() <= _FLOAT_EXACT:
            columns[column] = values.to_numpy(dtype="float64", na_value=np.nan)
        else:
            columns[column] = values
    return pd.DataFrame(columns, index=data.index)


def _arrow_strings(values: pd.Series) -> pd.Series:
    """An object column of strings and nulls as an Arrow-backed string column; any other as it is."""
    import pyarrow as pa

    try:
        array = pa.array(values.to_numpy(), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return values  # not only text (numbers, bytes, mixed values): GX reads the objects
    return pd.Series(pd.arrays.ArrowStringArray(array), index=values.index, name=values.name)


def _assemble(
    name: str,
    source: Any,
    data: pd.DataFrame,
    suite_result: Any,
    rules: dict[str, _Rule],
    *,
    run_id: str,
    index: str | None,
    page: str | None,
) -> ValidationResult:
    rows = len(data)
    expectations: list[dict[str, Any]] = []
    failing_rules: list[str] = []
    failing_masks: list[np.ndarray] = []
    problems: list[str] = []
    warnings: list[str] = []
    fail_on_duplicates = _fail_on_duplicate_keys(source)

    # GX returns results in its own order; report them in suite order, so `_reasons` is stable.
    order = {rule_id: i for i, rule_id in enumerate(rules)}
    outcomes = sorted(
        suite_result.results, key=lambda o: order.get(str((o.expectation_config.meta or {}).get("rule")), len(order))
    )
    for outcome in outcomes:
        config = outcome.expectation_config
        meta = config.meta or {}
        rule_id = str(meta.get("rule", config.type))
        rule = rules.get(rule_id) or _Rule(rule_id, config.type, dict(config.kwargs), meta.get("level", "table"))
        result = outcome.result or {}
        exception = _first_exception(outcome.exception_info or {})
        kwargs = {k: _jsonable(v) for k, v in config.kwargs.items() if k != "batch_id"}
        column = kwargs.get("column")
        column_type = source.columns[column].type if column in source.columns else None
        entry: dict[str, Any] = {
            "id": rule_id,
            "type": config.type,
            "column": column,
            "kwargs": kwargs,
            "level": rule.level,
            "severity": rule.severity,
            "origin": rule.origin,
            "success": bool(outcome.success),
            "unexpected_count": result.get("unexpected_count"),
            "sample": [_sample_value(v, column_type)
                       for v in (result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]],
        }
        if "observed_value" in result:
            entry["observed_value"] = _jsonable(result["observed_value"])
        if exception:
            entry["exception"] = exception
        expectations.append(entry)
        critical = rule.severity == "critical"
        report = problems.append if critical else warnings.append

        if exception:
            report(f"{rule_id} could not be evaluated: {exception}")
            continue
        if rule.level != "row":
            if not outcome.success:
                report(_table_failure(rule_id, config.type, entry.get("observed_value"), rule.severity))
            continue
        flagged = int(result.get("unexpected_count") or 0)
        if flagged == 0 and outcome.success:
            continue
        if not critical:
            report(f"{rule_id} ({rule.severity}): {flagged} row(s) break it, e.g. {entry['sample'][:3]}; "
                   "not quarantined")
            continue
        indices = result.get("unexpected_index_list")
        if indices is None:
            problems.append(f"{rule_id} failed but reported no row indices")
            continue
        mask = np.zeros(rows, dtype=bool)
        mask[_positions(indices)] = True
        failing_rules.append(rule_id)
        failing_masks.append(mask)
        if rule.key and fail_on_duplicates:
            problems.append(f"{rule_id} failed: {int(mask.sum())} rows share duplicated keys")
        elif not outcome.success and "mostly" in rule.kwargs:
            share = flagged / rows if rows else 0.0
            problems.append(f"{rule_id} failed: {flagged} of {rows} rows ({share:.2%}) break it, "
                            f"more than mostly={rule.kwargs['mostly']} allows")

    bad = np.logical_or.reduce(failing_masks) if failing_masks else np.zeros(rows, dtype=bool)
    valid, quarantined = _split(data, bad)
    quarantined[REASONS_COLUMN] = _reasons(failing_rules, failing_masks, bad)

    max_fraction = float(source.max_quarantine_fraction)
    bad_rows = len(quarantined)
    if rows and bad_rows / rows > max_fraction:
        problems.append(
            f"quarantined {bad_rows} of {rows} rows ({bad_rows / rows:.2%}), "
            f"more than max_quarantine_fraction {max_fraction:.2%}"
        )
    result = ValidationResult(
        source=name,
        rows_in=rows,
        rows_valid=len(valid),
        rows_quarantined=bad_rows,
        success=not problems,
        valid=valid,
        quarantined=quarantined,
        expectations=expectations,
        data_docs=index,
        data_docs_page=page,
        suite=_suite_name(name),
        run_id=run_id,
        max_quarantine_fraction=max_fraction,
        problems=problems,
        warnings=warnings,
        flags=bad,
    )
    log = logger.info if result.success else logger.warning
    log(
        "validated %s (run %s): %d rows in, %d valid, %d quarantined, gate %s%s",
        name, run_id, result.rows_in, result.rows_valid, result.rows_quarantined,
        "passed" if result.success else "FAILED", "" if result.success else ": " + "; ".join(problems),
    )
    return result


def _table_failure(rule_id: str, kind: str, observed: Any, severity: str) -> str:
    tag = "" if severity == "critical" else f" ({severity})"
    if kind == "expect_table_row_count_to_be_between":
        return f"{rule_id} failed{tag}: the frame has {observed} rows"
    return f"{rule_id} failed{tag}" + (f" (observed {observed})" if observed is not None else "")


def _split(data: pd.DataFrame, bad: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valid and quarantined rows, in input order, each with a fresh RangeIndex; each row copied once."""
    if not bad.any():
        valid = data.copy(deep=False)  # nothing to take out: the input's arrays, not a copy of them
        return valid, data.iloc[:0].copy()
    valid = data.take(np.flatnonzero(~bad))
    quarantined = data.take(np.flatnonzero(bad))
    valid.index = pd.RangeIndex(len(valid))
    quarantined.index = pd.RangeIndex(len(quarantined))
    return valid, quarantined


def _reasons(rules: list[str], masks: list[np.ndarray], bad: np.ndarray) -> list[str]:
    """The `_reasons` JSON of each quarantined row, computed once per distinct failure pattern."""
    count = int(bad.sum())
    if count == 0:
        return []
    matrix = np.column_stack([m[bad] for m in masks])  # quarantined rows x failed rules
    patterns, inverse = np.unique(matrix, axis=0, return_inverse=True)
    texts = np.array(
        [json.dumps([rules[j] for j in np.flatnonzero(p)], ensure_ascii=False) for p in patterns], dtype=object
    )
    return list(texts[np.asarray(inverse).reshape(-1)])


def _positions(indices: list[Any]) -> np.ndarray:
    if indices and isinstance(indices[0], dict):  # only when unexpected_index_column_names is set
        raise ValidationGateError("Great Expectations returned row indices as dicts; expected positions")
    return np.asarray(indices, dtype=np.int64)


def _sample_value(value: Any, column_type: str | None) -> Any:
    """A failing value as JSON; an int column GX read as float (it had nulls) shows ints again."""
    shown = _jsonable(value)
    if column_type == "int" and isinstance(shown, float) and shown.is_integer():
        return int(shown)
    return shown


def _first_exception(info: dict[str, Any]) -> str | None:
    """exception_info is either one dict or a dict of metric id -> dict; take the first message."""
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "exception"
    return None


# -- Great Expectations plumbing ---------------------------------------------------------------


def _gx() -> Any:
    """Import Great Expectations (slow: seconds) on first use, keep its loggers at WARNING, and
    switch off the row-by-row fingerprint of in-memory frames (see the module docstring)."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context import data_context_variables
    from great_expectations.execution_engine import pandas_execution_engine

    # One GX module names its logger by file path, outside the "great_expectations" hierarchy.
    logging.getLogger(data_context_variables.__file__).setLevel(logging.WARNING)
    # Frames smaller than this many bytes get hashed row by row for a batch marker nobody reads here.
    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    return gx


def _quiet_gx() -> None:
    """GX logs a lot at INFO, even while importing: WARNING, unless someone set a level explicitly."""
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


_quiet_gx()


def _suite_name(name: str) -> str:
    return name


def docs_root(gx_root: Path | str) -> Path:
    """The folder of the Data Docs site under a GX project root (what the Airflow plugin serves)."""
    return Path(gx_root) / DOCS_FOLDER


@contextlib.contextmanager
def _locked(gx_root: Path) -> Iterator[None]:
    """An exclusive lock on the GX project: its config file and Data Docs index are shared."""
    gx_root.mkdir(parents=True, exist_ok=True)
    with (gx_root / _LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _configure_project(context: Any) -> None:
    """No progress bars, a bounded Data Docs index. Saved once, when the project is new."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    variables = context.variables
    changed = False
    bars = variables.progress_bars
    if bars is None or bars.get("globally") or bars.get("metric_calculations"):
        variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        changed = True
    sites = copy.deepcopy(variables.data_docs_sites or {})
    site = sites.get(DOCS_SITE)
    if site is not None:
        index_builder = site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
        if index_builder.get("validation_results_limit") != DOCS_INDEX_RUNS:
            index_builder["validation_results_limit"] = DOCS_INDEX_RUNS
            variables.data_docs_sites = sites  # assigned, not mutated in place: GX keeps copies
            changed = True
    if changed:
        variables.save()


def _batch_definition(context: Any, name: str) -> Any:
    """The pandas data source / dataframe asset / whole-frame batch definition of one source.

    Created only when missing, so later runs leave the shared great_expectations.yml untouched.
    """
    try:
        datasource = context.data_sources.get(name)
    except KeyError:
        datasource = None
    if datasource is None or getattr(datasource, "type", "pandas") != "pandas":
        datasource = context.data_sources.add_or_update_pandas(name)
    try:
        asset = datasource.get_asset(ASSET_NAME)
    except LookupError:
        asset = datasource.add_dataframe_asset(ASSET_NAME)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION_NAME)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)


def _build_docs(context: Any, result_id: Any) -> tuple[str | None, str | None]:
    """Render this run's page, its suite's page and the index; return (index path, run page path)."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    identifiers = [result_id, ExpectationSuiteIdentifier(name=result_id.expectation_suite_identifier.name)]
    try:
        sites = context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)
    except Exception:
        logger.exception("could not build Data Docs for %s", result_id)
        return None, None
    index = _url_to_path(sites.get(DOCS_SITE))
    page = None
    with contextlib.suppress(Exception):
        urls = context.get_docs_sites_urls(resource_identifier=result_id, site_name=DOCS_SITE)
        page = _url_to_path(urls[0]["site_url"]) if urls else None
    suite_page = None
    with contextlib.suppress(Exception):
        urls = context.get_docs_sites_urls(resource_identifier=identifiers[1], site_name=DOCS_SITE)
        suite_page = _url_to_path(urls[0]["site_url"]) if urls else None
    if index is not None:
        _localize_docs(Path(index).parent, [index, page, suite_page])
    return index, page


def _localize_docs(site: Path, pages: Sequence[str | None]) -> None:
    """The pages just built load their scripts and styles from the site itself, not from CDNs
    (datacentric.validation.data_docs); a failure here leaves the pages as GX built them."""
    from datacentric.validation.data_docs import external_assets, install_assets, localize_page

    try:
        install_assets(site)
        for page in dict.fromkeys(p for p in pages if p):
            localize_page(Path(page), site)
            left = external_assets(Path(page).read_text(encoding="utf-8"))
            if left:
                logger.warning("Data Docs page %s still loads from the network: %s", page, left)
    except Exception:
        logger.exception("could not point the Data Docs pages of %s at local assets", site)


def _url_to_path(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url)
    return str(path.resolve()) if path.exists() else None


def _jsonable(value: Any) -> Any:
    """A value from a frame or a GX result as plain JSON (NA -> None, timestamps -> ISO 8601)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
