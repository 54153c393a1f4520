"""The pieces every reader shares: windows, dates in names, partitions of time, the type table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from datacentric.errors import SourceError
from datacentric.manifest import parse_manifest
from datacentric.sources import READERS, Window, reader_for
from datacentric.sources.base import date_in_name, date_pattern, partitions, safe_unit_name
from datacentric.sources.sql import bind_time


def test_windows() -> None:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)
    window = Window(start, end)
    assert window.contains(start) and not window.contains(end) and not window.is_catch_up
    assert Window(start, end).contains(datetime(2026, 10, 1, 23, 59))  # naive is UTC
    assert Window.for_interval(end, end) == Window(None, end)  # an empty interval catches up
    assert Window.for_interval(start, end) == window
    paris = timezone(timedelta(hours=2))
    assert Window(datetime(2026, 10, 1, 2, tzinfo=paris), end).start == start
    with pytest.raises(ValueError, match="is not before its end"):
        Window(end, start)


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        ("%Y-%m-%d", "events-2026-10-05.parquet", datetime(2026, 10, 5, tzinfo=UTC)),
        ("dt=%Y-%m-%d/hour=%H", "dt=2026-10-05/hour=07/part-0.csv", datetime(2026, 10, 5, 7, tzinfo=UTC)),
        ("%Y%m%d", "x_20261231.csv", datetime(2026, 12, 31, tzinfo=UTC)),
        ("%Y-%m", "2026-11.jsonl", datetime(2026, 11, 1, tzinfo=UTC)),
        ("%Y-%m-%d", "events-latest.csv", None),
        ("%Y-%m-%d", "events-2026-13-45.csv", None),
    ],
)
def test_dates_in_names(fmt: str, name: str, expected: datetime | None) -> None:
    assert date_in_name(name, date_pattern(fmt)) == expected


def test_partitions_are_clipped_to_the_window() -> None:
    low, high = datetime(2026, 10, 1, 6, tzinfo=UTC), datetime(2026, 10, 3, 12, tzinfo=UTC)
    assert [(n, s.hour, e.day) for n, s, e in partitions(low, high, "day")] == [
        ("2026-10-01", 6, 2), ("2026-10-02", 0, 3), ("2026-10-03", 0, 3)]
    months = partitions(datetime(2026, 11, 15, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC), "month")
    assert [n for n, _, _ in months] == ["2026-11", "2026-12", "2027-01"]
    assert len(partitions(low, low + timedelta(hours=3), "hour")) == 3


def test_unit_names_stay_inside_their_folder() -> None:
    assert safe_unit_name("a/../../b/./c") == "a/_/_/b/c"
    assert safe_unit_name("/abs/x") == "abs/x"


def test_time_bounds_take_the_column_s_own_kind() -> None:
    when = datetime(2026, 10, 1, 6, tzinfo=UTC)
    assert bind_time(datetime(2026, 1, 1), when) == datetime(2026, 10, 1, 6)
    assert bind_time(datetime(2026, 1, 1, tzinfo=UTC), when) == when
    assert bind_time(date(2026, 1, 1), when) == date(2026, 10, 1)
    assert bind_time("2026-01-01 00:00:00", when) == "2026-10-01 06:00:00"
    assert bind_time("2026-01-01T00:00:00Z", when) == "2026-10-01T06:00:00Z"
    assert bind_time("2026-01-01T00:00:00+00:00", when) == "2026-10-01T06:00:00+00:00"
    assert bind_time("2026-01-01", when) == "2026-10-01"


def test_every_manifest_type_has_a_reader() -> None:
    from datacentric.manifest.model import SOURCE_TYPES

    assert set(READERS) == set(SOURCE_TYPES)
    spec = parse_manifest("""
name: t
sources:
  a: {type: file, owner: me, location: {path: a, format: csv}, keys: [id], columns: {id: {type: int}}}
""").spec.sources["a"]
    object.__setattr__(spec, "type", "gopher")
    with pytest.raises(SourceError, match="unknown source type 'gopher'; known: file, sql, s3, http"):
        reader_for("a", spec, landing_root=".")
