"""The validation stage: suites generated from the manifest, run through Great Expectations for real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import ManifestError, ValidationGateError
from datacentric.manifest.model import FileSource
from datacentric.validation.suite import (
    REASONS_COLUMN,
    ValidationResult,
    build_suite,
    load_expectations,
    suite_fingerprint,
    validate_source,
)

LOCATION = {"path": "x", "format": "parquet"}

NOT_NULL_REVIEW_ID = "review_id: expect_column_values_to_not_be_null()"
UNIQUE_REVIEW_ID = "review_id: expect_column_values_to_be_unique()"
PATTERN_REVIEW_ID = "review_id: expect_column_values_to_match_regex(pattern='^R[0-9]{7}$')"
RATING_RANGE = "rating: expect_column_values_to_be_between(min=1, max=5)"
EVENT_TYPE_SET = "event_type: expect_column_values_to_be_in_set(allowed=['view', 'add_to_cart', 'purchase'])"
EVENT_ID_PATTERN = "event_id: expect_column_values_to_match_regex(pattern='^E[0-9]{8}$')"
QUANTITY_RANGE = "quantity: expect_column_values_to_be_between(min=1, max=100)"
ROW_COUNT = "table: expect_table_row_count_to_be_between(min=1)"


def source(columns: dict, keys: list[str], max_quarantine_fraction: float = 0.05) -> FileSource:
    return FileSource.model_validate(
        {
            "type": "file",
            "owner": "tests",
            "location": LOCATION,
            "keys": keys,
            "columns": columns,
            "max_quarantine_fraction": max_quarantine_fraction,
        }
    )


def reviews_source(max_quarantine_fraction: float = 0.05) -> FileSource:
    return source(
        {
            "review_id": {"type": "str", "nullable": False, "unique": True, "pattern": "^R[0-9]{7}$"},
            "product_id": {"type": "int", "nullable": False, "min": 1},
            "rating": {"type": "int", "nullable": False, "min": 1, "max": 5},
            "text": {"type": "str", "nullable": True},
            "created_at": {"type": "timestamp", "nullable": False},
        },
        ["review_id"],
        max_quarantine_fraction,
    )


def events_source(max_quarantine_fraction: float = 0.05) -> FileSource:
    return source(
        {
            "event_id": {"type": "str", "nullable": False, "unique": True, "pattern": "^E[0-9]{8}$"},
            "event_type": {"type": "str", "nullable": False, "allowed": ["view", "add_to_cart", "purchase"]},
            "quantity": {"type": "int", "nullable": False, "min": 1, "max": 100},
            "amount": {"type": "float", "nullable": True, "min": 0, "max": 1000},
            "mobile": {"type": "bool", "nullable": True},
            "day": {"type": "date", "nullable": False},
            "event_time": {"type": "timestamp", "nullable": False},
        },
        ["event_id"],
        max_quarantine_fraction,
    )


def products_source() -> FileSource:
    return source(
        {
            "product_id": {"type": "int", "nullable": False, "min": 1},
            "price": {"type": "float", "nullable": False, "min": 0.01},
            "updated_at": {"type": "timestamp", "nullable": False},
        },
        ["product_id", "updated_at"],
    )


def reviews_frame(n: int) -> pd.DataFrame:
    """A frame typed as ingestion leaves it (Int64, object str, UTC timestamps), every row valid."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "review_id": pd.Series([f"R{i:07d}" for i in range(n)], dtype=object),
            "product_id": pd.array(rng.integers(1, 50, n), dtype="Int64"),
            "rating": pd.array(rng.integers(1, 6, n), dtype="Int64"),
            "text": pd.Series([f"review {i}" if i % 7 else None for i in range(n)], dtype=object),
            "created_at": pd.to_datetime(1_700_000_000 + np.arange(n) * 60, unit="s", utc=True),
        }
    )


def events_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    times = pd.to_datetime(1_700_000_000 + np.arange(n) * 3600, unit="s", utc=True)
    return pd.DataFrame(
        {
            "event_id": pd.Series([f"E{i:08d}" for i in range(n)], dtype=object),
            "event_type": pd.Series(rng.choice(["view", "add_to_cart", "purchase"], n), dtype=object),
            "quantity": pd.array(rng.integers(1, 101, n), dtype="Int64"),
            "amount": np.where(np.arange(n) % 5 == 0, np.nan, rng.uniform(0, 1000, n)),
            "mobile": pd.array([None if i % 3 == 0 else bool(i % 2) for i in range(n)], dtype="boolean"),
            "day": times.tz_convert(None).normalize(),
            "event_time": times,
        }
    )


def run(name: str, src, frame: pd.DataFrame, root: Path, run_id: str = "run-1") -> ValidationResult:
    result = validate_source(name, src, frame, gx_root=root, run_id=run_id)
    assert result.rows_in == len(frame) == result.rows_valid + result.rows_quarantined
    assert len(result.valid) == result.rows_valid and len(result.quarantined) == result.rows_quarantined
    return result


def assert_split(result: ValidationResult, frame: pd.DataFrame, bad_positions: list[int]) -> None:
    """Exactly the rows at `bad_positions` are quarantined, the others valid, both in input order."""
    bad = sorted(bad_positions)
    good = [i for i in range(len(frame)) if i not in set(bad)]
    pd.testing.assert_frame_equal(
        result.quarantined.drop(columns=[REASONS_COLUMN]), frame.iloc[bad].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(result.valid, frame.iloc[good].reset_index(drop=True))


def reasons(result: ValidationResult) -> list[list[str]]:
    return [json.loads(text) for text in result.quarantined[REASONS_COLUMN]]


# -- the suite ---------------------------------------------------------------------------------


def _rules(suite) -> set[tuple[str, str]]:
    pairs = set()
    for expectation in suite.expectations:
        config = expectation.configuration
        kwargs = config.kwargs
        pairs.add((config.type, kwargs.get("column") or ",".join(kwargs.get("column_list", [])) or "<table>"))
    return pairs


def test_suite_has_one_rule_per_schema_constraint() -> None:
    suite = build_suite("reviews", reviews_source())
    assert suite.name == "reviews"
    assert _rules(suite) == {
        ("expect_column_values_to_not_be_null", "review_id"),
        ("expect_column_values_to_be_unique", "review_id"),  # unique: true and the single key: once
        ("expect_column_values_to_match_regex", "review_id"),
        ("expect_column_values_to_not_be_null", "product_id"),
        ("expect_column_values_to_be_between", "product_id"),
        ("expect_column_values_to_not_be_null", "rating"),
        ("expect_column_values_to_be_between", "rating"),
        ("expect_column_values_to_not_be_null", "created_at"),
        ("expect_table_row_count_to_be_between", "<table>"),
    }
    assert len(suite.expectations) == 9
    rating = next(e for e in suite.expectations if e.meta["rule"] == RATING_RANGE)
    assert (rating.min_value, rating.max_value) == (1, 5)


def test_suite_checks_compound_keys_and_allowed_values() -> None:
    products = _rules(build_suite("products", products_source()))
    assert ("expect_compound_columns_to_be_unique", "product_id,updated_at") in products
    assert not any(kind == "expect_column_values_to_be_unique" for kind, _ in products)
    events = build_suite("events", events_source())
    in_set = [e for e in events.expectations if e.meta["rule"] == EVENT_TYPE_SET]
    assert len(in_set) == 1 and in_set[0].value_set == ["view", "add_to_cart", "purchase"]
    assert ("expect_column_values_to_not_be_null", "amount") not in _rules(events)  # nullable


def test_key_columns_are_never_null_even_when_declared_nullable() -> None:
    src = source({"k": {"type": "int"}, "v": {"type": "str"}}, ["k"])
    assert ("expect_column_values_to_not_be_null", "k") in _rules(build_suite("s", src))
    assert ("expect_column_values_to_not_be_null", "v") not in _rules(build_suite("s", src))


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"type": "str", "min": 1}, "min/max apply to int and float columns, not 'str'"),
        ({"type": "timestamp", "max": 5}, "min/max apply to int and float columns, not 'timestamp'"),
        ({"type": "int", "pattern": "^[0-9]+$"}, "pattern applies to str columns, not 'int'"),
    ],
)
def test_rules_that_cannot_apply_to_a_type_are_manifest_errors(column: dict, message: str) -> None:
    src = source({"k": {"type": "int", "nullable": False}, "c": column}, ["k"])
    with pytest.raises(ManifestError, match=rf"source 's': column 'c': {message}"):
        build_suite("s", src)


# -- running -----------------------------------------------------------------------------------


def test_a_clean_frame_passes_whole(tmp_path: Path) -> None:
    frame = events_frame(60)
    result = run("events", events_source(), frame, tmp_path)
    assert result.success and result.problems == []
    assert_split(result, frame, [])
    assert list(result.quarantined.columns) == [*frame.columns, REASONS_COLUMN]
    assert list(result.valid.dtypes) == list(frame.dtypes)  # nullable Int64, boolean, UTC kept
    assert all(e["success"] for e in result.expectations)
    suite_order = [e.meta["rule"] for e in build_suite("events", events_source()).expectations]
    assert [e["id"] for e in result.expectations] == suite_order


def test_null_keys_are_quarantined_with_their_reason(tmp_path: Path) -> None:
    frame = reviews_frame(100)
    bad = [4, 50, 99]
    frame.loc[bad, "review_id"] = None
    result = run("reviews", reviews_source(), frame, tmp_path)
    assert_split(result, frame, bad)
    assert reasons(result) == [[NOT_NULL_REVIEW_ID]] * 3
    assert result.success  # 3% <= 5%, and a null key is not a duplicated key
    failed = {e["id"]: e for e in result.summary()["failed_expectations"]}
    assert set(failed) == {NOT_NULL_REVIEW_ID}
    assert failed[NOT_NULL_REVIEW_ID]["unexpected_count"] == 3
    assert failed[NOT_NULL_REVIEW_ID]["sample"] == [None, None, None]


def test_every_row_sharing_a_duplicated_key_is_quarantined_and_the_gate_fails(tmp_path: Path) -> None:
    frame = reviews_frame(200)
    frame.loc[150, "review_id"] = frame.loc[10, "review_id"]
    frame.loc[151, "review_id"] = frame.loc[20, "review_id"]
    result = run("reviews", reviews_source(), frame, tmp_path)
    assert_split(result, frame, [10, 20, 150, 151])
    assert reasons(result) == [[UNIQUE_REVIEW_ID]] * 4
    assert result.quarantine_fraction == 0.02  # below the 5% limit, yet:
    assert not result.success
    assert any("duplicated key" in problem for problem in result.problems)
    unique = next(e for e in result.expectations if e["id"] == UNIQUE_REVIEW_ID)
    assert unique["unexpected_count"] == 4
    assert sorted(unique["sample"]) == ["R0000010", "R0000010", "R0000020", "R0000020"]


def test_duplicated_compound_keys(tmp_path: Path) -> None:
    times = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-01", "2024-01-03"], utc=True)
    frame = pd.DataFrame(
        {
            "product_id": pd.array([1, 1, 2, 1, 2], dtype="Int64"),  # (1, 01-01) twice
            "price": [1.0, 2.0, 3.0, 4.0, 5.0],
            "updated_at": times,
        }
    )
    result = run("products", products_source(), frame, tmp_path)
    assert_split(result, frame, [0, 3])
    assert reasons(result) == [["product_id+updated_at: expect_compound_columns_to_be_unique()"]] * 2
    assert not result.success


def test_out_of_range_values_are_quarantined(tmp_path: Path) -> None:
    frame = reviews_frame(100)
    frame.loc[[7, 8], "rating"] = [0, 6]
    result = run("reviews", reviews_source(), frame, tmp_path)
    assert_split(result, frame, [7, 8])
    assert reasons(result) == [[RATING_RANGE]] * 2
    assert next(e for e in result.expectations if e["id"] == RATING_RANGE)["sample"] == [0, 6]
    assert result.success


def test_bad_categories_and_patterns_are_quarantined(tmp_path: Path) -> None:
    frame = events_frame(100)
    frame.loc[[3, 30], "event_type"] = ["click", "VIEW"]
    frame.loc[[40, 41, 42], "event_id"] = ["E123", "X00000041", "E000000420"]
    result = run("events", events_source(max_quarantine_fraction=0.1), frame, tmp_path)
    assert_split(result, frame, [3, 30, 40, 41, 42])
    assert reasons(result) == [[EVENT_TYPE_SET]] * 2 + [[EVENT_ID_PATTERN]] * 3
    assert result.success  # 5% <= 10%


def test_a_row_breaking_several_rules_lists_them_all_and_counts_once(tmp_path: Path) -> None:
    frame = events_frame(50)
    frame.loc[5, ["event_id", "event_type", "quantity"]] = ["bad", "click", 101]
    frame.loc[6, "quantity"] = 0
    result = run("events", events_source(max_quarantine_fraction=0.5), frame, tmp_path)
    assert_split(result, frame, [5, 6])
    assert reasons(result) == [[EVENT_ID_PATTERN, EVENT_TYPE_SET, QUANTITY_RANGE], [QUANTITY_RANGE]]


def test_reasons_and_expectations_follow_the_suite_order(tmp_path: Path) -> None:
    # The key rule comes last in the suite; GX itself reports it next to the column's other rules.
    src = source({"k": {"type": "int", "min": 1}, "v": {"type": "str", "allowed": ["a"]}}, ["k"], 1.0)
    frame = pd.DataFrame({"k": pd.array([1, 1, 2], dtype="Int64"), "v": pd.Series(["b", "a", "a"], dtype=object)})
    result = run("kv", src, frame, tmp_path)
    suite_order = [e.meta["rule"] for e in build_suite("kv", src).expectations]
    assert [e["id"] for e in result.expectations] == suite_order
    assert_split(result, frame, [0, 1])
    in_set, unique = "v: expect_column_values_to_be_in_set(allowed=['a'])", "k: expect_column_values_to_be_unique()"
    assert reasons(result) == [[in_set, unique], [unique]]


def test_nulls_only_break_not_null_rules(tmp_path: Path) -> None:
    frame = events_frame(40)
    frame.loc[9, "quantity"] = pd.NA  # not nullable: quarantined, but not also "out of range"
    frame.loc[10, "amount"] = np.nan  # nullable float with a range: fine
    frame.loc[11, "mobile"] = pd.NA  # nullable bool: fine
    result = run("events", events_source(max_quarantine_fraction=0.5), frame, tmp_path)
    assert_split(result, frame, [9])
    assert reasons(result) == [["quantity: expect_column_values_to_not_be_null()"]]


def test_rows_map_back_by_position_whatever_the_input_index(tmp_path: Path) -> None:
    frame = reviews_frame(30)
    frame.loc[[2, 25], "rating"] = 9
    shuffled = frame.sample(frac=1, random_state=3)  # index labels no longer positions
    positions = [shuffled.index.get_loc(2), shuffled.index.get_loc(25)]
    result = run("reviews", reviews_source(max_quarantine_fraction=0.5), shuffled, tmp_path)
    assert_split(result, shuffled, positions)
    assert set(result.quarantined["review_id"]) == {"R0000002", "R0000025"}


@pytest.mark.parametrize(("bad_rows", "success"), [(5, True), (6, False)])
def test_the_gate_fails_when_the_quarantined_share_exceeds_the_limit(
    tmp_path: Path, bad_rows: int, success: bool
) -> None:
    frame = reviews_frame(100)
    frame.loc[range(bad_rows), "rating"] = 0
    result = run("reviews", reviews_source(max_quarantine_fraction=0.05), frame, tmp_path)
    assert result.rows_quarantined == bad_rows
    assert result.success is success
    assert any("max_quarantine_fraction" in p for p in result.problems) is not success
    assert result.summary()["success"] is success


def test_an_empty_frame_fails_the_gate_on_the_table_rule(tmp_path: Path) -> None:
    frame = events_frame(5).iloc[:0]
    result = run("events", events_source(), frame, tmp_path)
    assert (result.rows_in, result.rows_valid, result.rows_quarantined) == (0, 0, 0)
    assert not result.success
    assert result.problems == [f"{ROW_COUNT} failed: the frame has 0 rows"]
    failed = result.summary()["failed_expectations"]
    assert [(e["id"], e["level"], e["observed_value"]) for e in failed] == [(ROW_COUNT, "table", 0)]
    assert list(result.quarantined.columns) == [*frame.columns, REASONS_COLUMN]


def test_a_rule_that_cannot_be_evaluated_fails_the_gate_without_quarantining(tmp_path: Path) -> None:
    frame = reviews_frame(10)
    frame["rating"] = frame["rating"].astype(str)  # breaks the input contract: text in an int column
    result = run("reviews", reviews_source(), frame, tmp_path)
    assert result.rows_quarantined == 0
    assert not result.success
    assert any(p.startswith(f"{RATING_RANGE} could not be evaluated") for p in result.problems)
    assert "exception" in next(e for e in result.expectations if e["id"] == RATING_RANGE)


def test_a_frame_missing_a_manifest_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationGateError, match=r"source 'reviews': the frame lacks manifest columns \['rating'\]"):
        frame = reviews_frame(5).drop(columns="rating")
        validate_source("reviews", reviews_source(), frame, gx_root=tmp_path, run_id="r")


def test_data_docs_are_built_for_the_run(tmp_path: Path) -> None:
    frame = reviews_frame(20)
    frame.loc[3, "rating"] = 0
    result = run("reviews", reviews_source(max_quarantine_fraction=0.5), frame, tmp_path, run_id="manual__2024")
    index = Path(result.data_docs)
    assert index.is_absolute() and index.name == "index.html" and index.is_file()
    assert index.is_relative_to(tmp_path.resolve())
    html = index.read_text(encoding="utf-8")
    assert "reviews" in html and "manual__2024" in html
    page = Path(result.data_docs_page)
    assert page.is_file() and "manual__2024" in page.parts
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))
    assert "Unexpected Value Count Index 0 1 3" in text  # the failing value, how often, and its row
    assert (index.parent / "expectations" / "reviews.html").is_file()


def test_data_docs_can_be_skipped(tmp_path: Path) -> None:
    frame = reviews_frame(10)
    result = validate_source("reviews", reviews_source(), frame, gx_root=tmp_path, run_id="r", build_docs=False)
    assert result.success and result.data_docs is None and result.data_docs_page is None
    assert not (tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()


def test_validating_twice_and_after_a_schema_change_works(tmp_path: Path) -> None:
    frame = reviews_frame(40)
    frame.loc[1, "rating"] = 0
    first = run("reviews", reviews_source(), frame, tmp_path)
    second = run("reviews", reviews_source(), frame, tmp_path)
    assert first.summary() | {"data_docs_page": None} == second.summary() | {"data_docs_page": None}
    pd.testing.assert_frame_equal(first.quarantined, second.quarantined)
    pd.testing.assert_frame_equal(first.valid, second.valid)
    # The manifest changes: the suite is updated in place, not added a second time.
    columns = {k: v.model_dump() for k, v in reviews_source().columns.items()}
    columns["rating"] = {"type": "int", "nullable": False, "min": 2, "max": 5}
    third = run("reviews", source(columns, ["review_id"], max_quarantine_fraction=0.5), frame, tmp_path)
    assert third.rows_quarantined == int((frame["rating"] < 2).sum()) > 1
    stricter = "rating: expect_column_values_to_be_between(min=2, max=5)"
    assert stricter in {e["id"] for e in third.expectations}
    assert RATING_RANGE not in {e["id"] for e in third.expectations}
    suites = list((tmp_path / "gx" / "expectations").glob("*.json"))
    assert [p.name for p in suites] == ["reviews.json"]
    stored = json.loads(suites[0].read_text(encoding="utf-8"))["expectations"]
    assert sorted(e["meta"]["rule"] for e in stored) == sorted(e["id"] for e in third.expectations)


def test_two_sources_share_one_project(tmp_path: Path) -> None:
    run("reviews", reviews_source(), reviews_frame(10), tmp_path)
    events = run("events", events_source(), events_frame(10), tmp_path)
    html = Path(events.data_docs).read_text(encoding="utf-8")
    assert "reviews" in html and "events" in html
    assert sorted(p.name for p in (tmp_path / "gx" / "expectations").glob("*.json")) == ["events.json", "reviews.json"]


def test_the_summary_is_json_without_frames(tmp_path: Path) -> None:
    frame = events_frame(30)
    frame.loc[2, "quantity"] = 500
    result = run("events", events_source(max_quarantine_fraction=0.5), frame, tmp_path)
    summary = json.loads(json.dumps(result.summary()))
    assert {k: summary[k] for k in ("source", "rows_in", "rows_valid", "rows_quarantined", "success")} == {
        "source": "events",
        "rows_in": 30,
        "rows_valid": 29,
        "rows_quarantined": 1,
        "success": True,
    }
    assert [e["id"] for e in summary["failed_expectations"]] == [QUANTITY_RANGE]
    assert summary["failed_expectations"][0]["sample"] == [500]
    assert summary["data_docs"] == result.data_docs
    assert not any(isinstance(v, pd.DataFrame) for v in result.summary().values())


# -- nullable integers, as Great Expectations reads them --------------------------------------


def test_ranges_on_nullable_integers_are_judged_like_the_manifest_says(tmp_path: Path) -> None:
    src = source({"k": {"type": "int", "nullable": False}, "n": {"type": "int", "min": -3, "max": 3}}, ["k"], 1.0)
    frame = pd.DataFrame({
        "k": pd.array(range(8), dtype="Int64"),
        "n": pd.array([None, -3, 3, -4, 4, None, 0, 2**60], dtype="Int64"),  # 2**60: not exact as a float
    })
    result = run("s", src, frame, tmp_path)
    assert_split(result, frame, [3, 4, 7])
    between = next(e for e in result.expectations if e["type"] == "expect_column_values_to_be_between")
    assert between["unexpected_count"] == 3
    assert between["sample"] == [-4, 4, 2**60] and all(type(v) is int for v in between["sample"])
    assert str(result.valid["n"].dtype) == "Int64"  # the frame handed back keeps its types


def test_ranges_on_nullable_integers_with_nulls_use_exact_floats(tmp_path: Path) -> None:
    src = source({"k": {"type": "int", "nullable": False}, "n": {"type": "int", "min": 0, "max": 10}}, ["k"], 1.0)
    frame = pd.DataFrame({"k": pd.array(range(5), dtype="Int64"), "n": pd.array([None, 0, 10, 11, -1], dtype="Int64")})
    result = run("s", src, frame, tmp_path)
    assert_split(result, frame, [3, 4])
    between = next(e for e in result.expectations if e["type"] == "expect_column_values_to_be_between")
    assert between["sample"] == [11, -1] and all(type(v) is int for v in between["sample"])


def test_text_and_mixed_object_columns_are_judged_by_their_values(tmp_path: Path) -> None:
    """Text reaches GX Arrow-backed, an object column of other values as it is: both give the same verdicts."""
    src = source({"k": {"type": "str", "nullable": False, "pattern": "^K[0-9]$"},
                  "tag": {"type": "str", "allowed": ["a", "b"]}}, ["k"], 1.0)
    frame = pd.DataFrame({
        "k": pd.Series(["K1", "K2", None, "X4", "K5", "K5"], dtype=object),
        "tag": pd.Series(["a", 7, None, "b", "c", b"a"], dtype=object),  # not only text: read as objects
    })
    result = run("s", src, frame, tmp_path)
    assert_split(result, frame, [1, 2, 3, 4, 5])
    assert reasons(result) == [
        ["tag: expect_column_values_to_be_in_set(allowed=['a', 'b'])"],
        ["k: expect_column_values_to_not_be_null()"],
        ["k: expect_column_values_to_match_regex(pattern='^K[0-9]$')"],
        ["tag: expect_column_values_to_be_in_set(allowed=['a', 'b'])", "k: expect_column_values_to_be_unique()"],
        ["tag: expect_column_values_to_be_in_set(allowed=['a', 'b'])", "k: expect_column_values_to_be_unique()"],
    ]
    assert result.quarantined["k"].dtype == object  # the frame handed back keeps its types
    pattern = next(e for e in result.expectations if e["type"] == "expect_column_values_to_match_regex")
    assert pattern["sample"] == ["X4"] and type(pattern["sample"][0]) is str


def test_a_frame_that_passes_whole_is_handed_back_without_a_copy(tmp_path: Path) -> None:
    frame = reviews_frame(30)
    result = run("reviews", reviews_source(), frame, tmp_path)
    assert np.shares_memory(result.valid["rating"].array._data, frame["rating"].array._data)
    assert result.quarantined.empty and list(result.quarantined.columns) == [*frame.columns, REASONS_COLUMN]


def test_duplicated_keys_can_be_left_to_the_quarantine_threshold(tmp_path: Path) -> None:
    src = source(
        {"review_id": {"type": "str", "nullable": False}, "rating": {"type": "int"}}, ["review_id"], 0.5
    ).model_copy(update={"validation": source({"k": {"type": "int"}}, ["k"]).validation.model_copy(
        update={"fail_on_duplicate_keys": False})})
    frame = pd.DataFrame({"review_id": ["a", "b", "a", "c"], "rating": pd.array([1, 2, 3, 4], dtype="Int64")})
    result = run("s", src, frame, tmp_path)
    assert_split(result, frame, [0, 2])
    assert result.success and result.problems == []


# -- expectations declared in YAML -------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expectations.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_declared_expectations_join_the_suite_after_the_generated_rules(tmp_path: Path) -> None:
    path = write(tmp_path, """\
events: []
reviews:
  - type: expect_column_value_lengths_to_be_between
    kwargs: {column: text, min_value: 3}
    description: Reviews say something.
  - type: expect_column_mean_to_be_between
    kwargs: {column: rating, min_value: 2, max_value: 4}
    severity: warning
""")
    declared = load_expectations(path, "reviews", reviews_source())
    assert [(e.type, e.severity, e.where) for e in declared] == [
        ("expect_column_value_lengths_to_be_between", "critical", f"{path}:3"),
        ("expect_column_mean_to_be_between", "warning", f"{path}:6"),
    ]
    assert load_expectations(path, "events", events_source()) == []
    assert load_expectations(path, "products", products_source()) == []  # no section: nothing declared
    suite = build_suite("reviews", reviews_source(), declared)
    assert len(suite.expectations) == 11
    lengths, mean = suite.expectations[-2:]
    assert lengths.meta == {"rule": "text: expect_column_value_lengths_to_be_between(min_value=3)", "level": "row",
                            "key": False, "origin": "expectations.yaml:3"}
    assert lengths.description == "Reviews say something."
    assert (mean.meta["level"], mean.severity.value) == ("table", "warning")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reviews:\n  - type: expect_column_values_to_be_betwen\n    kwargs: {column: rating}\n",
         r"expectations.yaml:2: reviews\[0\].type: unknown expectation type 'expect_column_values_to_be_betwen'; "
         r"did you mean expect_column_values_to_be_between"),
        ("reviews:\n  - type: expect_column_value_lengths_to_be_between\n"
         "    kwargs:\n      column: text\n      min_value: short\n",
         r"expectations.yaml:5: reviews\[0\].kwargs: expect_column_value_lengths_to_be_between refuses these "
         r"arguments: min_value: value is not a valid integer"),
        ("reviews:\n  - type: expect_column_values_to_be_in_set\n"
         "    kwargs: {column: text, value_set: [a], colour: 1}\n",
         r"expectations.yaml:3: reviews\[0\].kwargs: expect_column_values_to_be_in_set refuses these arguments: "
         r"colour: extra fields not permitted"),
        ("reviews:\n  - type: expect_column_values_to_be_unique\n    kwargs:\n      column: txt\n",
         r"expectations.yaml:4: reviews\[0\].kwargs.column: source 'reviews' has no column 'txt' \(columns: review_id"),
        ("reviews:\n  - type: expect_column_values_to_be_unique\n    kwargs: {column: text}\n    severity: fatal\n",
         r"expectations.yaml:4: reviews\[0\].severity: expected one of critical, warning, info, got 'fatal'"),
        ("reviews:\n  - type: expect_column_values_to_be_unique\n    args: {column: text}\n",
         r"expectations.yaml:3: reviews\[0\]: unknown field\(s\) \['args'\]"),
        ("reviews:\n  type: expect_column_values_to_be_unique\n",
         r"expectations.yaml:1: reviews: expected a list of expectations"),
        ("reviews: [\n", r"expectations.yaml:2: not valid YAML"),
    ],
    ids=["unknown-type", "bad-value", "unknown-argument", "unknown-column", "severity", "field", "not-a-list", "yaml"],
)
def test_declared_expectation_errors_name_the_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        load_expectations(write(tmp_path, text), "reviews", reviews_source())


def test_a_missing_expectations_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"nope.yaml: expectations file not found \(source 'reviews'"):
        load_expectations(tmp_path / "nope.yaml", "reviews", reviews_source())


def test_a_declared_row_rule_quarantines_and_a_table_rule_fails_the_gate(tmp_path: Path) -> None:
    path = write(tmp_path, """\
reviews:
  - type: expect_column_value_lengths_to_be_between
    kwargs: {column: text, min_value: 5}
  - type: expect_column_max_to_be_between
    kwargs: {column: rating, max_value: 4}
""")
    frame = reviews_frame(50)
    frame.loc[[3, 10], "text"] = ["ok", "meh"]  # too short; row 0's text is null (nullable): not judged
    result = validate_source("reviews", reviews_source(max_quarantine_fraction=0.5), frame, gx_root=tmp_path,
                             run_id="r", expectations=load_expectations(path, "reviews", reviews_source()))
    assert_split(result, frame, [3, 10])
    assert reasons(result) == [["text: expect_column_value_lengths_to_be_between(min_value=5)"]] * 2
    assert not result.success
    assert result.problems == ["rating: expect_column_max_to_be_between(max_value=4) failed (observed 5)"]


def test_warning_severity_reports_without_quarantining_or_failing(tmp_path: Path) -> None:
    path = write(tmp_path, """\
reviews:
  - type: expect_column_value_lengths_to_be_between
    kwargs: {column: text, min_value: 5}
    severity: warning
  - type: expect_column_max_to_be_between
    kwargs: {column: rating, max_value: 4}
    severity: info
""")
    frame = reviews_frame(50)
    frame.loc[[3, 10], "text"] = ["ok", "meh"]
    result = validate_source("reviews", reviews_source(), frame, gx_root=tmp_path, run_id="r",
                             expectations=load_expectations(path, "reviews", reviews_source()))
    assert result.success and result.rows_quarantined == 0
    assert result.warnings == [
        "text: expect_column_value_lengths_to_be_between(min_value=5) (warning): 2 row(s) break it, "
        "e.g. ['ok', 'meh']; not quarantined",
        "rating: expect_column_max_to_be_between(max_value=4) failed (info) (observed 5)",
    ]


@pytest.mark.parametrize(("bad_rows", "success"), [(2, True), (3, False)])
def test_mostly_on_a_declared_row_rule_is_its_own_threshold(tmp_path: Path, bad_rows: int, success: bool) -> None:
    path = write(tmp_path, """\
reviews:
  - type: expect_column_values_to_be_in_set
    kwargs: {column: rating, value_set: [1, 2, 3, 4, 5], mostly: 0.95}
""")
    src = reviews_source(max_quarantine_fraction=0.5)
    frame = reviews_frame(40)
    frame.loc[range(bad_rows), "rating"] = 9
    result = validate_source("reviews", src, frame, gx_root=tmp_path, run_id="r",
                             expectations=load_expectations(path, "reviews", src))
    assert result.rows_quarantined == bad_rows  # flagged rows are quarantined either way
    assert result.success is success
    rule = "rating: expect_column_values_to_be_in_set(value_set=[1, 2, 3, 4, 5], mostly=0.95)"
    assert (result.problems == [f"{rule} failed: 3 of 40 rows (7.50%) break it, more than mostly=0.95 allows"]) \
        is not success


def test_the_suite_fingerprint_follows_the_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "reviews:\n  - type: expect_column_values_to_be_unique\n    kwargs: {column: text}\n")
    declared = load_expectations(path, "reviews", reviews_source())
    base = suite_fingerprint("reviews", reviews_source())
    assert base == suite_fingerprint("reviews", reviews_source())
    assert base != suite_fingerprint("reviews", reviews_source(), declared)
    assert base != suite_fingerprint("reviews", reviews_source(max_quarantine_fraction=0.1))
