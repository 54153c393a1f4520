from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source

MANIFEST = """\
name: t
sources:
  items:
    type: file
    owner: me
    location: {{path: items, pattern: "*.{ext}", format: {fmt}}}
    keys: [id]
    columns:
      id: {{type: int, nullable: false}}
      name: {{type: str}}
      price: {{type: float}}
      at: {{type: timestamp}}
"""


def _setup(tmp_path: Path, fmt: str, ext: str, files: dict[str, bytes]):
    landing = tmp_path / "landing"
    (landing / "items").mkdir(parents=True)
    for name, data in files.items():
        (landing / "items" / name).write_bytes(data)
    loaded = parse_manifest(MANIFEST.format(fmt=fmt, ext=ext))
    return loaded, DataRepository(tmp_path / "repo").init(), landing


def test_jsonl_bad_lines_and_types_are_quarantined(tmp_path: Path) -> None:
    lines = [
        {"id": 1, "name": "a", "price": 1.5, "at": "2026-10-01T00:00:00Z"},
        {"id": "two", "name": "b", "price": 2.0, "at": "2026-10-01T01:00:00Z"},  # id not an int
        {"id": 3, "name": "c", "price": "cheap", "at": "2026-10-01T02:00:00Z"},  # price not a float
        {"id": 4, "name": "d", "price": 4.0, "at": "yesterday"},  # not a timestamp
        {"id": 5, "name": None, "price": None, "at": None},  # nulls are values, judged by validation
    ]
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"id": 6, "name": "tru\n[1, 2]\n'
    loaded, repo, landing = _setup(tmp_path, "jsonl", "jsonl", {"a.jsonl": text.encode()})
    result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    assert result.rows_in == 7
    assert result.rows_published == 2
    assert result.rows_quarantined == 5
    raw = repo.read_frame("raw", "items")
    assert list(raw["id"]) == [1, 5]
    assert str(raw["id"].dtype) == "Int64" and str(raw["at"].dtype) == "datetime64[ns, UTC]"
    q = repo.read_frame("quarantine", "items")
    reasons = " | ".join(q["_reasons"])
    assert "id: expected int, got 'two'" in reasons
    assert "price: expected float, got 'cheap'" in reasons
    assert "at: expected timestamp, got 'yesterday'" in reasons
    assert "not valid JSON" in reasons and "expected a JSON object, got list" in reasons
    assert set(q["_origin"]) == {(landing / "items" / "a.jsonl").as_uri()}


def test_rerun_publishes_nothing_new_and_new_files_only(tmp_path: Path) -> None:
    csv1 = b"id,name,price,at\n1,a,1.0,2026-10-01T00:00:00Z\n2,b,2.0,2026-10-01T00:00:00Z\n"
    loaded, repo, landing = _setup(tmp_path, "csv", "csv", {"day1.csv": csv1})
    first = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    log_size = len(repo.changelog())
    again = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r2")
    assert (first.units_ingested, again.units_ingested, again.units_skipped) == (1, 0, 1)
    assert len(repo.changelog()) == log_size
    (landing / "items" / "day2.csv").write_bytes(b"id,name,price,at\n3,c,3.0,2026-10-02T00:00:00Z\n")
    third = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r3")
    assert (third.units_ingested, third.units_skipped, third.rows_in) == (1, 1, 1)
    assert sorted(repo.read_frame("raw", "items")["id"]) == [1, 2, 3]


def test_csv_ragged_rows_are_quarantined(tmp_path: Path) -> None:
    data = b"id,name,price,at\n1,a,1.0,2026-10-01T00:00:00Z\n2,b\n3,c,3.0,2026-10-01T00:00:00Z,extra\n"
    loaded, repo, landing = _setup(tmp_path, "csv", "csv", {"x.csv": data})
    result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 1, 2)
    reasons = list(repo.read_frame("quarantine", "items")["_reasons"])
    assert any("line 3: 2 fields, header has 4" in r for r in reasons)


def test_parquet_source(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "name": ["a", "b"], "price": [1.0, 2.0],
                          "at": pd.to_datetime(["2026-10-01", "2026-10-02"])})
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    loaded, repo, landing = _setup(tmp_path, "parquet", "parquet", {"f.parquet": path.read_bytes()})
    result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    assert result.rows_published == 2
    assert str(repo.read_frame("raw", "items")["at"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"x.csv": b"id,name\n1,a\n"}, "missing column(s) price, at"),
        ({"x.csv": b"id,name,price,at\n1,\xff\xfe,1,2026-01-01\n"}, "x.csv:2: not UTF-8"),
        ({}, "no data found (empty source)"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    loaded, repo, landing = _setup(tmp_path, "csv", "csv", files)
    with pytest.raises(SourceError) as info:
        ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    assert "source 'items'" in str(info.value) and message in str(info.value)


def test_truncated_parquet_is_named(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1], "name": ["a"], "price": [1.0], "at": pd.to_datetime(["2026-10-01"])})
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    loaded, repo, landing = _setup(tmp_path, "parquet", "parquet", {"cut.parquet": path.read_bytes()[:-20]})
    with pytest.raises(SourceError, match=r"cut.parquet: not a readable Parquet file"):
        ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")


def test_location_cannot_escape_landing_root(tmp_path: Path) -> None:
    loaded = parse_manifest(MANIFEST.format(fmt="csv", ext="csv").replace("path: items", "path: ../../etc"))
    with pytest.raises(SourceError, match="escapes the landing root"):
        ingest_source(loaded, "items", DataRepository(tmp_path / "r").init(), landing_root=tmp_path / "l", run_id="r")


# -- windows, backfills and changed files ---------------------------------------------------------

DATED = """\
name: t
sources:
  items:
    type: file
    owner: me
    location: {path: items, pattern: "*.csv", format: csv, date_in_name: "%Y-%m-%d"}
    keys: [id]
    event_time: at
    columns:
      id: {type: int, nullable: false}
      price: {type: float}
      at: {type: timestamp}
"""


def _day_file(day: int, ids: range, price: str = "1.0") -> bytes:
    rows = "".join(f"{i},{price},2026-10-{day:02d}T0{i % 10}:00:00Z\n" for i in ids)
    return ("id,price,at\n" + rows).encode()


def _reconciles(result) -> None:
    assert result.rows_in == result.rows_published + result.rows_quarantined


def test_a_window_takes_exactly_the_files_dated_in_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from datacentric.sources import Window

    landing = tmp_path / "landing"
    (landing / "items").mkdir(parents=True)
    for day in range(1, 6):
        (landing / "items" / f"items-2026-10-{day:02d}.csv").write_bytes(_day_file(day, range(day * 10, day * 10 + 3)))
    loaded, repo = parse_manifest(DATED), DataRepository(tmp_path / "repo").init()
    day = lambda d: datetime(2026, 10, d, tzinfo=UTC)  # noqa: E731

    backfill = ingest_source(loaded, "items", repo, landing_root=landing, run_id="b1", window=Window(day(2), day(4)))
    _reconciles(backfill)
    assert sorted(p.stem for p in repo.files("raw", "items")) == ["items-2026-10-02", "items-2026-10-03"]
    assert (backfill.units_seen, backfill.rows_published) == (2, 6)

    again = ingest_source(loaded, "items", repo, landing_root=landing, run_id="b2", window=Window(day(2), day(4)))
    assert (again.units_ingested, again.units_skipped) == (0, 2)

    catch_up = ingest_source(loaded, "items", repo, landing_root=landing, run_id="c1", window=Window(None, day(5)))
    _reconciles(catch_up)
    assert (catch_up.units_seen, catch_up.units_ingested, catch_up.units_skipped) == (4, 2, 2)
    assert "items-2026-10-05" not in {p.stem for p in repo.files("raw", "items")}  # dated on the window's end

    (landing / "items" / "items-latest.csv").write_bytes(_day_file(6, range(60, 61)))
    with pytest.raises(SourceError, match=r"items-latest.csv: no date matching date_in_name '%Y-%m-%d'"):
        ingest_source(loaded, "items", repo, landing_root=landing, run_id="c2")


def test_a_corrected_file_replaces_its_rows_and_clears_its_quarantine(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "items").mkdir(parents=True)
    path = landing / "items" / "items-2026-10-01.csv"
    path.write_bytes(_day_file(1, range(1, 4)) + b"4,cheap,2026-10-01T00:00:00Z\n")
    loaded, repo = parse_manifest(DATED), DataRepository(tmp_path / "repo").init()
    first = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    assert (first.rows_published, first.rows_quarantined) == (3, 1)

    path.write_bytes(_day_file(1, range(1, 5), price="2.5"))  # re-delivered, fixed
    second = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r2")
    _reconciles(second)
    assert (second.units_ingested, second.rows_published, second.rows_quarantined) == (1, 4, 0)
    assert list(repo.read_frame("raw", "items")["price"]) == [2.5] * 4
    assert not repo.files("quarantine", "items")
    ops = [(r.op, r.path.split("/")[0]) for r in repo.changelog()
           if r.run_id == "r2" and not r.path.startswith("state")]
    assert ops == [("remove", "quarantine"), ("replace", "raw")]

    import os

    os.utime(path, ns=(1, 1))  # touched, not changed: read once more, then known by its checksum
    third = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r3")
    assert (third.units_ingested, third.units_skipped) == (0, 1)


# -- formats and bad input ------------------------------------------------------------------------

def test_csv_fast_path_and_fallback_type_rows_alike(tmp_path: Path) -> None:
    clean = b"id,name,price,at\n1,a,1.5,2026-10-01T00:00:00Z\n2,,2,2026-10-01 02:00:00\n"
    dirty = clean + b"3,c,three,2026-10-01T03:00:00Z\n"
    results = []
    for name, data in (("clean", clean), ("dirty", dirty)):
        loaded, repo, landing = _setup(tmp_path / name, "csv", "csv", {"x.csv": data})
        result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
        _reconciles(result)
        results.append(repo.read_frame("raw", "items"))
    pd.testing.assert_frame_equal(results[0], results[1])
    assert results[0]["name"].isna().tolist() == [False, True]  # an empty field is missing, not ""
    assert str(results[0]["at"].iloc[1]) == "2026-10-01 02:00:00+00:00"  # no zone: taken as UTC


def test_parquet_values_of_the_wrong_type_are_quarantined(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["1", "2", "x"], "name": ["a", "b", "c"], "price": [1.0, 2.0, 3.0],
                          "at": pd.to_datetime(["2026-10-01 01:00", "2026-10-01 02:00", "2026-10-01 03:00"])})
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    loaded, repo, landing = _setup(tmp_path, "parquet", "parquet", {"f.parquet": path.read_bytes()})
    result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 2, 1)
    quarantined = repo.read_frame("quarantine", "items")
    assert list(quarantined["_reasons"]) == ["id: expected int, got 'x'"] and list(quarantined["_row"]) == [3]
    assert json.loads(quarantined["_record"][0])["name"] == "c"
    assert str(repo.read_frame("raw", "items")["at"].iloc[0]) == "2026-10-01 01:00:00+00:00"


def test_declared_encoding_and_delimiter(tmp_path: Path) -> None:
    data = "id;name;price;at\n1;Müller;1.5;2026-10-01T00:00:00Z\n".encode("latin-1")
    declared = 'format: csv, encoding: latin-1, delimiter: ";"'
    text = MANIFEST.format(fmt="csv", ext="csv").replace("format: csv", declared)
    landing = tmp_path / "landing"
    (landing / "items").mkdir(parents=True)
    (landing / "items" / "x.csv").write_bytes(data)
    repo = DataRepository(tmp_path / "repo").init()
    result = ingest_source(parse_manifest(text), "items", repo, landing_root=landing, run_id="r1")
    assert result.rows_published == 1 and repo.read_frame("raw", "items")["name"][0] == "Müller"
    undeclared = MANIFEST.format(fmt="csv", ext="csv").replace("format: csv", 'format: csv, delimiter: ";"')
    with pytest.raises(SourceError, match=r"x.csv:2: not UTF-8 .*set location.encoding"):
        ingest_source(parse_manifest(undeclared), "items", DataRepository(tmp_path / "r2").init(),
                      landing_root=landing, run_id="r1")


@pytest.mark.parametrize(
    ("data", "rows"),
    [(b"", 0), (b"id,name,price,at\n", 0), (b"id,name,price,at\n\n\n1,a,1,2026-10-01T00:00:00Z\n\n", 1)],
    ids=["empty file", "header only", "blank lines"],
)
def test_empty_files_and_blank_lines(tmp_path: Path, data: bytes, rows: int) -> None:
    loaded, repo, landing = _setup(tmp_path, "csv", "csv", {"x.csv": data})
    result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
    _reconciles(result)
    assert (result.rows_in, result.rows_published) == (rows, rows)
    raw = repo.read_frame("raw", "items")
    assert len(raw) == rows and str(raw["id"].dtype) == "Int64"


def test_duplicate_header_names_are_an_error(tmp_path: Path) -> None:
    loaded, repo, landing = _setup(tmp_path, "csv", "csv", {"x.csv": b"id,name,price,at,id\n1,a,1,2026-10-01,1\n"})
    with pytest.raises(SourceError, match=r"x.csv:1: duplicate column name\(s\) in the header: id"):
        ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")


def test_json_lines_fast_path_and_line_by_line_agree(tmp_path: Path) -> None:
    good = [{"id": 1, "name": "a", "price": 1, "at": "2026-10-01T00:00:00Z"}, {"id": 2, "price": 2.5, "at": None}]
    text = "\n".join(json.dumps(r) for r in good) + "\n"
    frames = []
    for name, data in (("fast", text), ("slow", text + '{"id": "bad", "name": "z"}\n')):
        loaded, repo, landing = _setup(tmp_path / name, "jsonl", "jsonl", {"a.jsonl": data.encode()})
        result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="r1")
        _reconciles(result)
        frames.append(repo.read_frame("raw", "items"))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[0]["name"].isna().tolist() == [False, True]  # an absent key is null


def test_subfolders_name_their_units_and_symlinks_cannot_leave_the_landing_root(tmp_path: Path) -> None:
    text = MANIFEST.format(fmt="csv", ext="csv").replace('pattern: "*.csv"', 'pattern: "**/*.csv"')
    landing = tmp_path / "landing"
    for part in ("a", "b"):
        (landing / "items" / part).mkdir(parents=True)
        (landing / "items" / part / "x.csv").write_bytes(b"id,name,price,at\n1,a,1,2026-10-01T00:00:00Z\n")
    repo = DataRepository(tmp_path / "repo").init()
    ingest_source(parse_manifest(text), "items", repo, landing_root=landing, run_id="r1")
    assert [repo.relative(p) for p in repo.files("raw", "items")] == ["raw/items/a/x.parquet", "raw/items/b/x.parquet"]
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"id,name,price,at\n")
    (landing / "items" / "a" / "link.csv").symlink_to(outside)
    with pytest.raises(SourceError, match="outside the landing root"):
        ingest_source(parse_manifest(text), "items", repo, landing_root=landing, run_id="r2")
