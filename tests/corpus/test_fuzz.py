"""Fuzzing (Hypothesis, bounded): the manifest loader and each file reader fed random text and bytes,
and valid inputs with random damage. Whatever comes in, only the project's own errors may escape
(include/datacentric/errors.py). A crash found here becomes a case of the corpus."""

from __future__ import annotations

import gzip
import importlib.util
import io
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datacentric.errors import DataCentricError, ManifestError
from datacentric.manifest import load_manifest, parse_manifest
from datacentric.manifest.model import Column
from datacentric.sources.formats import decompress, parse
from datacentric.sources.ingest import coerce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_spec = importlib.util.spec_from_file_location("corpus_harness", Path(__file__).with_name("_harness.py"))
assert _spec is not None and _spec.loader is not None
harness = sys.modules.setdefault("corpus_harness", importlib.util.module_from_spec(_spec))
if not hasattr(harness, "ingest"):
    _spec.loader.exec_module(harness)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = {"id": Column(type="int", nullable=False), "name": Column(type="str"),
           "at": Column(type="timestamp"), "ok": Column(type="bool"), "price": Column(type="float"),
           "local": Column(type="timestamp", format="%d/%m/%Y %H:%M", timezone="Europe/Berlin")}
KINDS = {name: column.type for name, column in COLUMNS.items()}
MANIFEST = (Path(__file__).parent / "manifest" / "timestamp_format_timezone_path_ok.yaml").read_text()


def _buf(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


PARQUET = _buf(pa.table({"id": [1, 2], "name": ["a", "b"], "at": ["2024-01-01", "x"]}))
CSV = b"id,name,at,ok,price,local\n1,a,2024-01-01T00:00:00Z,true,1.5,01/03/2024 10:00\n2,b,,false,,\n"
JSONL = b'{"id": 1, "name": "a", "at": "2024-01-01", "ok": true, "price": 1.5, "local": "01/03/2024 10:00"}\n'


def _damaged(valid: bytes) -> st.SearchStrategy[bytes]:
    """The valid bytes with a few bytes replaced, inserted or cut away."""
    @st.composite
    def damage(draw: st.DrawFn) -> bytes:
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 4))):
            where = draw(st.integers(0, max(len(data) - 1, 0)))
            what = draw(st.sampled_from(["flip", "insert", "cut"]))
            byte = draw(st.integers(0, 255))
            if what == "flip" and data:
                data[where] = byte
            elif what == "insert":
                data.insert(where, byte)
            else:
                del data[where:]
        return bytes(data)
    return damage()


def _read(data: bytes, fmt: str) -> None:
    try:
        parsed = parse(data, fmt, source="fuzz", origin=f"fuzz.{fmt}", kinds=KINDS)
        typed = coerce(parsed.data, COLUMNS, source="fuzz", origin=f"fuzz.{fmt}")
        assert typed.table.num_rows == parsed.rows
    except DataCentricError:
        pass


@FAST
@given(st.text(max_size=400))
def test_manifest_loader_random_text(text: str) -> None:
    try:
        parse_manifest(text, "fuzz.yaml")
    except ManifestError:
        pass


@FAST
@given(st.data())
def test_manifest_loader_damaged_manifest(data: st.DataObject) -> None:
    text = MANIFEST
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.integers(0, len(text)))
        text = text[:where] + data.draw(st.sampled_from(["", ":", "&a ", "*a", "[", "- ", "  ", "\n", "!!", "9" * 30,
                                                         "{", "\t", "'", "\x00", "yes"])) + text[where + 1:]
    try:
        parse_manifest(text, "fuzz.yaml")
    except ManifestError:
        pass


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_manifest_file_random_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.yaml"
        path.write_bytes(data)
        try:
            load_manifest(path)
        except ManifestError:
            pass


@FAST
@given(st.binary(max_size=300), st.sampled_from(["csv", "jsonl", "parquet"]))
def test_readers_random_bytes(data: bytes, fmt: str) -> None:
    _read(data, fmt)


@FAST
@given(st.sampled_from([("csv", CSV), ("jsonl", JSONL), ("parquet", PARQUET)]).flatmap(
    lambda case: st.tuples(st.just(case[0]), _damaged(case[1]))))
def test_readers_damaged_files(case: tuple[str, bytes]) -> None:
    fmt, data = case
    _read(data, fmt)


@FAST
@given(st.one_of(st.binary(max_size=200), _damaged(gzip.compress(CSV))),
       st.sampled_from(["gzip", "bz2", "xz", "zstd"]))
def test_decompression_random_bytes(data: bytes, codec: str) -> None:
    try:
        decompress(data, codec, source="fuzz", origin="fuzz.gz")
    except DataCentricError:
        pass


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from(["csv", "jsonl", "parquet"]))
def test_file_ingestion_random_bytes(data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            outcome = harness.ingest(Path(tmp), harness.manifest_text(fmt), {f"a.{fmt}": data})
        except DataCentricError:
            return
        result = outcome.result
        assert result.rows_in == result.rows_published + result.rows_quarantined
