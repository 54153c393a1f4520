"""The file corpus: small bad (and unusual) input files with the outcome each must have.

Each case is one file source (the columns and location options of `_harness.manifest_text`), its
input files, and either the error text ingestion must raise or the counts rows in = published +
quarantined with texts the quarantine reasons contain and exact values the published rows hold.
See tests/corpus/README.md.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import io
import lzma
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datacentric.errors import SourceError

_spec = importlib.util.spec_from_file_location("corpus_harness", Path(__file__).with_name("_harness.py"))
assert _spec is not None and _spec.loader is not None
harness = sys.modules.setdefault("corpus_harness", importlib.util.module_from_spec(_spec))
if not hasattr(harness, "ingest"):
    _spec.loader.exec_module(harness)


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


CSV = b"id,name\n1,a\n2,b\n"
JSONL = b'{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n'
GOOD_PARQUET = _parquet(pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]}))
BIG = 9007199254740993  # 2^53 + 1: float64 cannot hold it


@dataclass
class Case:
    fmt: str
    files: dict[str, bytes]
    error: str | None = None
    rows_in: int = 0
    published: int = 0
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)
    columns: str = harness.COLUMNS
    location: str = ""


STAMPS = "      id: {type: int, nullable: false}\n      at: {type: timestamp, format: '%d/%m/%Y %H:%M', " \
         "timezone: Europe/Berlin}\n"
NESTED = "      id: {type: int, nullable: false}\n      device_id: {type: str, path: device.id}\n" \
         "      model: {type: str, path: device.spec.model}\n"

CASES: dict[str, Case] = {
    # defect 6: a latin-1 byte in a UTF-8 file
    "jsonl_latin1_byte": Case("jsonl", {"a.jsonl": b'{"id": 1, "name": "caf\xe9"}\n{"id": 2, "name": "ok"}\n'},
                              rows_in=2, published=1, quarantined=1,
                              reasons=["line 1: not UTF-8 (invalid continuation byte"], values={"name": ["ok"]}),
    "csv_latin1_byte": Case("csv", {"a.csv": b"id,name\n1,caf\xe9\n2,ok\n"},
                            error="a.csv:2: not UTF-8 (invalid continuation byte at byte 13)"),
    "csv_latin1_header": Case("csv", {"a.csv": b"\x80d,name\n1,a\n"},  # found by test_fuzz
                              error="a.csv:1: not UTF-8 (invalid start byte at byte 0)"),
    "csv_latin1_in_ragged_row": Case("csv", {"a.csv": b"id,name\n1,a\n2,b\xff,c\n"},  # found by test_fuzz
                                     error="a.csv:3: not UTF-8 (invalid start byte"),
    "csv_latin1_declared": Case("csv", {"a.csv": b"id,name\n1,caf\xe9\n"}, location="encoding: latin-1",
                                rows_in=1, published=1, values={"name": ["café"]}),
    # defect 7: integers beyond 2^53 keep their value; beyond int64 they are quarantined
    "csv_int_beyond_2_53": Case("csv", {"a.csv": f"id,name\n{BIG},a\nx,b\n".encode()},
                                rows_in=2, published=1, quarantined=1, reasons=["id: expected int, got 'x'"],
                                values={"id": [BIG]}),
    "csv_int_beyond_int64": Case("csv", {"a.csv": b"id,name\n1,a\n99999999999999999999,b\n"},
                                 rows_in=2, published=1, quarantined=1,
                                 reasons=["id: expected int, got '99999999999999999999'"], values={"id": [1]}),
    "jsonl_int_beyond_2_53_with_gaps": Case("jsonl", {"a.jsonl": f'{{"id": {BIG}}}\n{{"id": 1, "name": "b"}}\n'
                                                      f'{{"id": "bad"}}\n'.encode()},
                                            rows_in=3, published=2, quarantined=1, values={"id": [BIG, 1]}),
    "jsonl_int_beyond_int64": Case("jsonl", {"a.jsonl": b'{"id": 99999999999999999999}\n{"id": 3}\n'},
                                   rows_in=2, published=1, quarantined=1, values={"id": [3]}),
    # defect 8: an unterminated quote
    "csv_unterminated_quote": Case("csv", {"a.csv": b'id,name\n1,"abc\n2,def\n3,ghi\n'},
                                   error="a.csv:2: unterminated quoted value starting on line 2"),
    "csv_quoted_newline_is_fine": Case("csv", {"a.csv": b'id,name\n1,"two\nlines"\n2,b\n'},
                                       rows_in=2, published=2, values={"name": ["two\nlines", "b"]}),
    "csv_literal_quote_inside_value": Case("csv", {"a.csv": b'id,name\n1,5" disk\n2,b\n'},
                                           rows_in=2, published=2, values={"name": ['5" disk', "b"]}),
    # defect 10: truncated and mis-typed Parquet
    "parquet_truncated": Case("parquet", {"a.parquet": GOOD_PARQUET[: len(GOOD_PARQUET) // 2]},
                              error="a.parquet: not a readable Parquet file"),
    "parquet_not_parquet": Case("parquet", {"a.parquet": b"id,name\n1,a\n"},
                                error="a.parquet: not a readable Parquet file"),
    "parquet_mistyped_columns": Case("parquet", {"a.parquet": _parquet(pa.table(
        {"id": pa.array([1.0, 2.5, 2.0**70]), "name": pa.array([[1], [2], [3]])}))},
        rows_in=3, quarantined=3, reasons=["id: expected int, got '2.5'", "name: expected str, got '[1]'"]),
    "parquet_int_as_text": Case("parquet", {"a.parquet": _parquet(pa.table({"id": [str(BIG), "7"],
                                                                            "name": ["a", "b"]}))},
                                rows_in=2, published=2, values={"id": [BIG, 7]}),
    # defect 11: compression
    "csv_gzip": Case("csv", {"a.csv.gz": gzip.compress(CSV)}, rows_in=2, published=2, values={"id": [1, 2]}),
    "csv_bz2": Case("csv", {"a.csv.bz2": bz2.compress(CSV)}, rows_in=2, published=2),
    "jsonl_xz": Case("jsonl", {"a.jsonl.xz": lzma.compress(JSONL)}, rows_in=2, published=2),
    "jsonl_zstd": Case("jsonl", {"a.jsonl.zst": _zstd(JSONL)}, rows_in=2, published=2, values={"name": ["a", "b"]}),
    "compression_field": Case("csv", {"a.data": gzip.compress(CSV)}, location="compression: gzip",
                              rows_in=2, published=2),
    "gzip_corrupt": Case("csv", {"a.csv.gz": gzip.compress(CSV)[:-12]}, error="a.csv.gz: not a readable gzip file"),
    "gzip_not_gzip": Case("csv", {"a.csv.gz": CSV}, error="not a readable gzip file"),
    # defect 12: timestamp formats and time zones, nested paths
    "timestamp_format_and_zone": Case("csv", {"a.csv": b"id,at\n1,01/03/2024 10:00\n2,2024-03-01\n"
                                                       b"3,31/03/2024 02:30\n4,27/10/2024 02:30\n5,\n"},
                                      columns=STAMPS, rows_in=5, published=2, quarantined=3,
                                      reasons=["at: expected timestamp (format '%d/%m/%Y %H:%M', time zone "
                                               "Europe/Berlin), got '2024-03-01'",
                                               "got '31/03/2024 02:30'", "got '27/10/2024 02:30'"]),
    "jsonl_nested_paths": Case("jsonl", {"a.jsonl": b'{"id": 1, "device": {"id": "d1", "spec": {"model": "x"}}}\n'
                                                    b'{"id": 2, "device": {"id": "d2"}}\n{"id": 3, "device": null}\n'},
                               columns=NESTED, rows_in=3, published=3,
                               values={"device_id": ["d1", "d2", None], "model": ["x", None, None]}),
    "jsonl_nested_path_missing_root": Case("jsonl", {"a.jsonl": b'{"id": 1}\n'}, columns=NESTED,
                                           error="column 'device_id': no field 'device' for its path device.id"),
    # common bad files
    "csv_empty_file": Case("csv", {"a.csv": b""}, rows_in=0),
    "csv_header_only": Case("csv", {"a.csv": b"id,name\n"}, rows_in=0),
    "jsonl_empty_file": Case("jsonl", {"a.jsonl": b""}, rows_in=0),
    "csv_bom": Case("csv", {"a.csv": b"\xef\xbb\xbfid,name\n1,a\n"}, rows_in=1, published=1, values={"id": [1]}),
    "jsonl_bom": Case("jsonl", {"a.jsonl": b'\xef\xbb\xbf{"id": 1, "name": "a"}\n{"id": 2, "name": "\xff"}\n'},
                      rows_in=2, published=1, quarantined=1, values={"id": [1]}),
    "csv_crlf": Case("csv", {"a.csv": b"id,name\r\n1,a\r\n2,b\r\n"}, rows_in=2, published=2,
                     values={"name": ["a", "b"]}),
    "jsonl_crlf": Case("jsonl", {"a.jsonl": JSONL.replace(b"\n", b"\r\n")}, rows_in=2, published=2),
    "csv_wrong_delimiter": Case("csv", {"a.csv": b"id;name\n1;a\n"}, error="missing column(s) id, name"),
    "csv_declared_delimiter": Case("csv", {"a.csv": b"id;name\n1;a\n"}, location='delimiter: ";"',
                                   rows_in=1, published=1),
    "csv_mixed_types": Case("csv", {"a.csv": b"id,name\n1,a\ntwo,b\n3.0,c\n3.5,d\n"}, rows_in=4, published=2,
                            quarantined=2, reasons=["id: expected int, got 'two'", "got '3.5'"],
                            values={"id": [1, 3]}),
    "csv_missing_required_column": Case("csv", {"a.csv": b"id\n1\n"}, error="missing column(s) name; found id"),
    "csv_extra_column": Case("csv", {"a.csv": b"id,name,extra\n1,a,x\n"}, rows_in=1, published=1,
                             values={"extra": ["x"]}),
    "csv_ragged_rows": Case("csv", {"a.csv": b"id,name\n1,a\n2,b,c\n3\n"}, rows_in=3, published=1, quarantined=2,
                            reasons=["line 3: 3 fields, header has 2", "line 4: 1 fields, header has 2"]),
    "csv_duplicate_header": Case("csv", {"a.csv": b"id,name,name\n1,a,b\n"}, error="duplicate column name(s)"),
    "jsonl_not_objects": Case("jsonl", {"a.jsonl": b'{"id": 1}\n[1, 2]\n"text"\n{"id": \n'}, rows_in=4,
                              published=1, quarantined=3, reasons=["expected a JSON object, got list",
                                                                   "not valid JSON"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_file_case(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    manifest = harness.manifest_text(case.fmt, case.columns, case.location)
    if case.error is not None:
        with pytest.raises(SourceError) as info:
            harness.ingest(tmp_path, manifest, case.files)
        assert case.error in str(info.value)
        assert "source 'items'" in str(info.value)
        return
    outcome = harness.ingest(tmp_path, manifest, case.files)
    result = outcome.result
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (
        case.rows_in, case.published, case.quarantined)
    assert result.rows_in == result.rows_published + result.rows_quarantined
    every = " | ".join(outcome.reasons)
    for text in case.reasons:
        assert text in every
    for column, values in case.values.items():
        got = [None if v is None or v != v else v for v in outcome.raw[column].tolist()]
        assert got == values


def test_corpus_size() -> None:
    assert len(CASES) >= 35


def test_timezone_converts_to_utc(tmp_path: Path) -> None:
    outcome = harness.ingest(tmp_path, harness.manifest_text("csv", STAMPS),
                             {"a.csv": b"id,at\n1,01/03/2024 10:00\n2,01/07/2024 10:00\n"})
    assert [t.isoformat() for t in outcome.raw["at"]] == ["2024-03-01T09:00:00+00:00", "2024-07-01T08:00:00+00:00"]


def test_compressed_unit_named_like_plain(tmp_path: Path) -> None:
    outcome = harness.ingest(tmp_path, harness.manifest_text("csv"), {"day.csv.gz": gzip.compress(CSV)})
    assert outcome.result.published == ["raw/items/day.parquet"]


def test_file_changed_while_read_is_not_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """defect 9: the writer appends while the reader reads; nothing is published, the error says retry."""
    real = Path.read_bytes

    def read_then_append(self: Path) -> bytes:
        data = real(self)
        with self.open("ab") as out:
            out.write(b"3,c\n")
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_append)
    with pytest.raises(SourceError, match="a.csv: the file changed while it was read.*run again"):
        harness.ingest(tmp_path, harness.manifest_text("csv"), {"a.csv": CSV})
    monkeypatch.setattr(Path, "read_bytes", real)
    assert not list((tmp_path / "repo").rglob("raw/items/*.parquet"))
    again = harness.ingest(tmp_path, harness.manifest_text("csv"), {})
    assert again.result.rows_published == 3  # the retry reads the finished file


def test_file_changed_since_listed(tmp_path: Path) -> None:
    from datacentric.manifest import parse_manifest
    from datacentric.sources import reader_for

    landing = tmp_path / "landing"
    (landing / "items").mkdir(parents=True)
    (landing / "items" / "a.csv").write_bytes(CSV)
    spec = parse_manifest(harness.manifest_text("csv")).spec.sources["items"]
    reader = reader_for("items", spec, landing_root=landing)
    [unit] = reader.units()
    (landing / "items" / "a.csv").write_bytes(CSV + b"3,c\n")
    os.utime(landing / "items" / "a.csv", ns=(1, 1))
    with pytest.raises(SourceError, match="changed while it was read"):
        reader.read(unit)
