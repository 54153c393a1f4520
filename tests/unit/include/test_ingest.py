from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import SourceError
from datacentric.ingest import ingest_source
from datacentric.manifest import parse_manifest
from datacentric.repository import DataRepository

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
