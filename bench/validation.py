"""Validation time: the project's Great Expectations gate against hand-written pandas checks of the same rules.

Both sides judge the same typed frame (as ingestion leaves it: object strings, nullable Int64, UTC
timestamps) of the bundled manifest's `events` source, holding k bad rows of each kind (null key,
duplicated key, out of range, unknown category, malformed id), and produce the same outputs: the valid
rows, and the quarantined rows with `_reasons` (a JSON list of the rules each broke). The rules are the
source's suite: the ones generated from its schema plus its declared expectations (expectations.yaml).

- project:     `validate_source` as the validation stage calls it: the suite through a GX checkpoint,
               results stored, Data Docs built.
- hand-written: one vectorized pandas mask per rule, written out by hand for this source.

And the stock tools a user would pick instead, on the same rules and frame:

- Great Expectations out of the box: the same suite through GX's stock checkpoint (COMPLETE result
  format on the frame as it is, Data Docs action), the rows its results list as unexpected split off;
- pandera: a `DataFrameSchema` with the same rules, validated lazily; the rows its failure cases
  name split off with the columns they failed on.

Before timing, the bench checks that the project and the hand-written checks quarantine exactly the
same rows for the same reasons; each stock tool's quarantine is checked against the project's (the
same rows; for pandera also the same failing columns per row) before its time counts. It prints
seconds and the ratio project / hand-written at 1M and 10M rows (1M: best of 3; 10M: one run each),
and the speed-up of the project over each stock tool (their time / the project's). The last line is
JSON; peak RSS is the process's maximum.

    .venv/bin/python bench/validation.py            # about 8 minutes and 9 GB at 10M rows
    .venv/bin/python bench/validation.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from datacentric.manifest import load_manifest
from datacentric.settings import BUNDLED_MANIFEST
from datacentric.validation.gate import expectations_file
from datacentric.validation.suite import REASONS_COLUMN, load_expectations, validate_source

SOURCE = "events"
KINDS = ("null_key", "duplicate_key", "out_of_range", "bad_category", "bad_pattern")
EVENT_TYPES = ["view", "add_to_cart", "purchase"]
PATTERN = "^E[0-9]{8}$"


def events(rows: int, bad_per_kind: int, seed: int = 0) -> pd.DataFrame:
    """An events frame typed like the raw zone, with `bad_per_kind` rows of each kind of bad row."""
    rng = np.random.default_rng(seed)
    digits = np.char.zfill(np.arange(rows).astype("U8"), 8)
    frame = pd.DataFrame({
        "event_id": pd.Series(np.char.add("E", digits), dtype=object),
        "user_id": pd.array(rng.integers(1, 20_001, rows), dtype="Int64"),
        "product_id": pd.array(rng.integers(1, 2_001, rows), dtype="Int64"),
        "event_type": pd.Series(np.asarray(EVENT_TYPES, dtype=object)[rng.integers(0, 3, rows)], dtype=object),
        "quantity": pd.array(rng.integers(1, 4, rows), dtype="Int64"),
        "event_time": pd.to_datetime(1_790_000_000 + np.arange(rows) * 3, unit="s", utc=True),
    })
    where = rng.choice(rows, size=bad_per_kind * len(KINDS), replace=False).reshape(len(KINDS), bad_per_kind)
    frame.loc[where[0], "event_id"] = None
    frame.loc[where[1], "event_id"] = "E99999999"  # all share one key
    frame.loc[where[2], "quantity"] = 0
    frame.loc[where[3], "event_type"] = "refund"
    frame.loc[where[4], "event_id"] = [f"X{i:08d}" for i in range(bad_per_kind)]
    return frame


def handwritten(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The events source's rules as vectorized pandas: (valid, quarantined with _reasons, problems)."""
    rows = len(frame)
    masks: dict[str, np.ndarray] = {}
    ids = frame["event_id"]
    id_null = ids.isna().to_numpy()
    masks["event_id: expect_column_values_to_not_be_null()"] = id_null
    masks["event_id: expect_column_values_to_be_unique()"] = ids.duplicated(keep=False).to_numpy() & ~id_null
    masks[f"event_id: expect_column_values_to_match_regex(pattern={PATTERN!r})"] = (
        ~id_null & ~ids.str.contains(PATTERN, regex=True, na=True).to_numpy(dtype=bool))
    for column in ("user_id", "product_id"):
        values = frame[column]
        masks[f"{column}: expect_column_values_to_not_be_null()"] = values.isna().to_numpy()
        masks[f"{column}: expect_column_values_to_be_between(min=1)"] = (values < 1).to_numpy(
            dtype=bool, na_value=False)
    kinds = frame["event_type"]
    masks["event_type: expect_column_values_to_not_be_null()"] = kinds.isna().to_numpy()
    masks[f"event_type: expect_column_values_to_be_in_set(allowed={EVENT_TYPES!r})"] = (
        ~kinds.isin(EVENT_TYPES).to_numpy() & kinds.notna().to_numpy())
    quantity = frame["quantity"]
    masks["quantity: expect_column_values_to_not_be_null()"] = quantity.isna().to_numpy()
    masks["quantity: expect_column_values_to_be_between(min=1, max=100)"] = (
        ((quantity < 1) | (quantity > 100)).to_numpy(dtype=bool, na_value=False))
    masks["event_time: expect_column_values_to_not_be_null()"] = frame["event_time"].isna().to_numpy()

    problems = []
    unique_key = masks["event_id: expect_column_values_to_be_unique()"]
    if unique_key.any():
        problems.append(f"event_id: {int(unique_key.sum())} rows share duplicated keys")
    if rows < 1000:
        problems.append("fewer than 1000 rows")
    users = frame["user_id"]
    if users.nunique() / max(int(users.notna().sum()), 1) < 0.01:
        problems.append("user_id: few distinct users (warning)")

    failing = [(rule, mask) for rule, mask in masks.items() if mask.any()]
    bad = np.logical_or.reduce([mask for _, mask in failing]) if failing else np.zeros(rows, dtype=bool)
    valid = frame.take(np.flatnonzero(~bad))
    quarantined = frame.take(np.flatnonzero(bad))
    valid.index = pd.RangeIndex(len(valid))
    quarantined.index = pd.RangeIndex(len(quarantined))
    if failing:
        matrix = np.column_stack([mask[bad] for _, mask in failing])
        patterns, inverse = np.unique(matrix, axis=0, return_inverse=True)
        texts = np.array([json.dumps([failing[j][0] for j in np.flatnonzero(p)]) for p in patterns], dtype=object)
        quarantined[REASONS_COLUMN] = texts[np.asarray(inverse).reshape(-1)]
    else:
        quarantined[REASONS_COLUMN] = pd.Series(dtype=object)
    return valid, quarantined, problems


def out_of_the_box(spec: Any, declared: list, frame: pd.DataFrame, gx_root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Great Expectations as its documentation shows it: the suite, a checkpoint, COMPLETE results,
    the frame as it is, Data Docs; GX's frame fingerprint on."""
    import great_expectations as gx
    from datacentric.validation.suite import build_suite
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    threshold = pandas_execution_engine.HASH_THRESHOLD
    pandas_execution_engine.HASH_THRESHOLD = 1e9  # GX's own default
    try:
        context = gx.get_context(mode="file", project_root_dir=str(gx_root))
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # quiet output, same work
        batch = context.data_sources.add_or_update_pandas("plain").add_dataframe_asset("frame") \
            .add_batch_definition_whole_dataframe("all")
        suite = context.suites.add_or_update(build_suite("plain", spec, declared))
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name="plain", data=batch, suite=suite))
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name="plain", validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs")], result_format={"result_format": "COMPLETE"}))
        data = frame.reset_index(drop=True)
        result = checkpoint.run(batch_parameters={"dataframe": data})
        ((_, suite_result),) = result.run_results.items()
        bad: set[int] = set()
        for outcome in suite_result.results:
            bad.update((outcome.result or {}).get("unexpected_index_list") or [])
        positions = sorted(bad)
        valid, quarantined = data.drop(index=positions), data.loc[positions]  # the same split, the simple way
        return valid, quarantined
    finally:
        pandas_execution_engine.HASH_THRESHOLD = threshold


def pandera_schema() -> Any:
    """The events source's rules as a pandera schema (nullable=False is pandera's default)."""
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            "event_id": pa.Column(str, unique=True, checks=pa.Check.str_matches(PATTERN)),
            "user_id": pa.Column("Int64", checks=pa.Check.ge(1)),
            "product_id": pa.Column("Int64", checks=pa.Check.ge(1)),
            "event_type": pa.Column(str, checks=pa.Check.isin(EVENT_TYPES)),
            "quantity": pa.Column("Int64", checks=pa.Check.in_range(1, 100)),
            "event_time": pa.Column(pd.DatetimeTZDtype("ns", "UTC")),
        },
        checks=[pa.Check(lambda data: len(data) >= 1000, name="at_least_1000_rows")],
    )


def with_pandera(schema: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """pandera as its documentation shows it for a quarantine: validate lazily, split off the rows
    its failure cases name, with the columns each failed on (`_columns`, a sorted JSON list)."""
    from pandera.errors import SchemaErrors

    try:
        schema.validate(frame, lazy=True)
        failures = pd.DataFrame({"index": [], "column": []})
    except SchemaErrors as errors:
        failures = errors.failure_cases
    rows = failures[failures["index"].notna()]
    columns = rows.groupby(rows["index"].astype("int64"))["column"].agg(lambda c: json.dumps(sorted(set(c))))
    bad = np.zeros(len(frame), dtype=bool)
    bad[columns.index.to_numpy()] = True
    valid = frame.take(np.flatnonzero(~bad)).reset_index(drop=True)
    quarantined = frame.take(np.flatnonzero(bad)).reset_index(drop=True)
    quarantined["_columns"] = columns.sort_index().to_numpy()
    return valid, quarantined


def failing_columns(reasons: pd.Series) -> list[str]:
    """The project's `_reasons` (JSON lists of "column: rule") as sorted JSON lists of the columns."""
    return [json.dumps(sorted({rule.partition(":")[0] for rule in json.loads(text)})) for text in reasons]


def check_same_quarantine(tool: str, project: Any, valid: pd.DataFrame, quarantined: pd.DataFrame) -> None:
    """Fail loudly unless a stock tool split the frame exactly as the project did."""
    expected = project.quarantined.drop(columns=[REASONS_COLUMN])
    got = quarantined.drop(columns=["_columns"], errors="ignore").reset_index(drop=True)
    if len(valid) != len(project.valid) or len(got) != len(expected):
        raise SystemExit(f"{tool}: {len(valid)} valid and {len(got)} quarantined rows, the project "
                         f"{len(project.valid)} and {len(expected)}")
    pd.testing.assert_frame_equal(got, expected, obj=f"{tool}'s quarantine")
    if "_columns" in quarantined:
        theirs = quarantined["_columns"].tolist()
        ours = failing_columns(project.quarantined[REASONS_COLUMN])
        if theirs != ours:
            wrong = next(i for i, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b)
            raise SystemExit(f"{tool}: quarantined row {wrong} failed on {theirs[wrong]}, "
                             f"in the project on {ours[wrong]}")


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def speedup(by_size: dict[int, float], rows: int) -> float | None:
    return round(by_size[rows], 2) if rows in by_size else None


def main() -> None:
    logging.getLogger("datacentric").setLevel(logging.ERROR)  # every gate here fails on purpose
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()

    loaded = load_manifest(BUNDLED_MANIFEST)
    spec = loaded.spec.sources[SOURCE]
    declared = load_expectations(expectations_file(loaded, SOURCE), SOURCE, spec)
    work = Path(tempfile.mkdtemp(prefix="bench-validation-"))

    def project(frame: pd.DataFrame, run: str) -> Any:
        return validate_source(SOURCE, spec, frame, gx_root=work / "gx", run_id=run, expectations=declared)

    # Correctness and warm-up (imports, the GX project): both sides agree on a small frame.
    small = events(20_000, 7)
    check = project(small, "check")
    valid, quarantined, _ = handwritten(small)
    pd.testing.assert_frame_equal(check.quarantined, quarantined)
    pd.testing.assert_frame_equal(check.valid, valid)
    assert check.rows_quarantined == 7 * len(KINDS) and not check.success
    print(f"check: both quarantine the same {check.rows_quarantined} rows for the same reasons", flush=True)

    schema = pandera_schema()
    plain_valid, plain_quarantined = out_of_the_box(spec, declared, small, work / "gx-plain")
    check_same_quarantine("Great Expectations out of the box", check, plain_valid, plain_quarantined)
    check_same_quarantine("pandera", check, *with_pandera(schema, small))
    print("check: Great Expectations out of the box and pandera quarantine the same rows", flush=True)

    ratios: dict[int, float] = {}
    speedups: dict[str, dict[int, float]] = {"gx": {}, "pandera": {}}
    for rows in args.sizes:
        frame = events(rows, max(2, rows // 10_000))
        repeats = 3 if rows <= 1_000_000 else 1
        base_times, project_times = [], []
        for i in range(repeats):
            seconds, outcome = timed(handwritten, frame)
            base_times.append(seconds)
            expected = outcome[1]
            del outcome
            seconds, result = timed(project, frame, f"bench-{rows}-{i}")
            project_times.append(seconds)
            if i == 0:  # the timed runs agree too
                assert result.rows_quarantined == len(expected)
                pd.testing.assert_frame_equal(result.quarantined, expected)
                reference = result
            del result, expected
        base, ours = min(base_times), min(project_times)
        ratios[rows] = ours / base
        print(f"{rows:>10,} rows: project {ours:7.2f}s  hand-written {base:6.2f}s  ratio {ours / base:5.2f}  "
              f"(best of {repeats})", flush=True)
        plain, split = timed(out_of_the_box, spec, declared, frame, work / "gx-plain")
        check_same_quarantine("Great Expectations out of the box", reference, *split)
        del split
        speedups["gx"][rows] = plain / ours
        print(f"{rows:>10,} rows: Great Expectations out of the box {plain:7.2f}s  ratio {plain / base:5.2f}  "
              f"project {plain / ours:4.2f}x faster", flush=True)
        pandera_times = []
        for _ in range(repeats):
            seconds, split = timed(with_pandera, schema, frame)
            pandera_times.append(seconds)
            check_same_quarantine("pandera", reference, *split)
            del split
        with_pa = min(pandera_times)
        speedups["pandera"][rows] = with_pa / ours
        print(f"{rows:>10,} rows: pandera {with_pa:7.2f}s  ratio {with_pa / base:5.2f}  "
              f"project {with_pa / ours:4.2f}x faster (best of {repeats})", flush=True)
        del frame, reference
        gc.collect()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(f"peak RSS {peak_mb:,.0f} MB", flush=True)
    print(json.dumps({
        "benchmark": "validation",
        "ratio_1m": round(ratios[1_000_000], 3) if 1_000_000 in ratios else None,
        "ratio_10m": round(ratios[10_000_000], 3) if 10_000_000 in ratios else None,
        "speedup_vs_gx_1m": speedup(speedups["gx"], 1_000_000),
        "speedup_vs_gx_10m": speedup(speedups["gx"], 10_000_000),
        "speedup_vs_pandera_1m": speedup(speedups["pandera"], 1_000_000),
        "speedup_vs_pandera_10m": speedup(speedups["pandera"], 10_000_000),
        "peak_rss_mb": round(peak_mb),
    }))


if __name__ == "__main__":
    sys.exit(main())
