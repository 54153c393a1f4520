"""Parsers for the file formats sources deliver (CSV, JSON lines, Parquet), from bytes to Arrow.

Clean data takes Arrow's multi-threaded readers end to end. Only what they cannot take falls back:
a CSV value that does not convert to its manifest type makes the declared columns read as text
(typing and quarantine then happen per column in `datacentric.sources.ingest`); ragged CSV rows go to the
invalid-row handler and are reported with their line; a JSON lines file with a malformed line or
mixed types per key is parsed line by line.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping

import pyarrow as pa

from datacentric.sources.base import ParsedUnit, SourceInputError

# Arrow types that CSV and JSON readers convert to directly; timestamps are parsed in coercion.
_READ_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}


def parse(
    data: bytes,
    fmt: str,
    *,
    source: str,
    origin: str,
    kinds: Mapping[str, str] | None = None,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> ParsedUnit:
    """Rows of one unit. `kinds` maps declared columns to manifest types, so readers type them early."""
    kinds = kinds or {}
    if fmt == "parquet":
        return ParsedUnit(_read_parquet(data, source=source, origin=origin))
    if fmt == "csv":
        return _parse_csv(data, source=source, origin=origin, kinds=kinds, encoding=encoding, delimiter=delimiter)
    if fmt == "jsonl":
        return _parse_jsonl(data, source=source, origin=origin, kinds=kinds, encoding=encoding)
    raise SourceInputError(source, origin, f"unknown format {fmt!r}; expected csv, jsonl or parquet")


def _read_parquet(data: bytes, *, source: str, origin: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise SourceInputError(source, origin, f"not a readable Parquet file ({exc})") from None


# -- compression ----------------------------------------------------------------------------------

COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}


def compression_of(name: str, compression: str = "auto") -> str | None:
    """The codec of a file: the manifest's `compression`, or by its last extension when 'auto'."""
    if compression == "auto":
        return next((codec for suffix, codec in COMPRESSION_SUFFIXES.items() if name.lower().endswith(suffix)), None)
    return None if compression == "none" else compression


def decompress(data: bytes, codec: str | None, *, source: str, origin: str) -> bytes:
    """The bytes of a compressed file, or an error naming the file when they are not that codec's."""
    if codec is None:
        return data
    import bz2
    import gzip
    import lzma
    import zlib

    try:
        if codec == "gzip":
            return gzip.decompress(data)
        if codec == "bz2":
            return bz2.decompress(data)
        if codec == "xz":
            return lzma.decompress(data)
        if codec == "zstd":
            with pa.CompressedInputStream(pa.BufferReader(data), "zstd") as stream:
                return bytes(stream.read())
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, pa.ArrowException) as exc:
        raise SourceInputError(source, origin,
                               f"not a readable {codec} file ({exc}); check location.compression") from None
    raise SourceInputError(source, origin, f"unknown compression {codec!r}")


# -- CSV --------------------------------------------------------------------------------------------

def _parse_csv(
    data: bytes, *, source: str, origin: str, kinds: Mapping[str, str], encoding: str, delimiter: str
) -> ParsedUnit:
    column_types = {name: _READ_TYPES.get(kind, pa.string()) for name, kind in kinds.items()}
    invalid: list[tuple[int | None, str, int, int]] = []
    header: list[str] | None = None
    while True:
        invalid.clear()
        try:
            table = _read_csv(data, column_types, invalid, encoding=encoding, delimiter=delimiter, threads=True)
            break
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "Empty CSV file" in message:
                return ParsedUnit(pa.table({}))
            if "CSV parse error" in message:  # a ragged row Arrow could not even show as text
                try:
                    data.decode(encoding)
                except UnicodeDecodeError:
                    _raise_if_not_text(data, encoding, source=source, origin=origin, error="utf8")
            _raise_if_not_text(data, encoding, source=source, origin=origin, error=message)
            # A value that does not convert to its column's type: read that column as text; typing
            # and quarantine then find the rows, per column, in `datacentric.sources.ingest`.
            match = re.search(r"In CSV column #(\d+)", message)
            if "conversion error" not in message or match is None:
                raise SourceInputError(source, origin, f"unreadable CSV ({message})") from None
            header = header or _csv_header(data, encoding, delimiter)
            index = int(match.group(1))
            name = header[index] if index < len(header) else None
            if name is None or column_types.get(name) in (None, pa.string()):
                raise SourceInputError(source, origin, f"unreadable CSV ({message})") from None
            column_types[name] = pa.string()
    _check_quotes(data, encoding, delimiter, source=source, origin=origin)
    try:
        names = table.column_names
    except UnicodeDecodeError:  # Arrow does not check the header's text: say which line and byte
        _raise_if_not_text(data, encoding, source=source, origin=origin, error="invalid UTF8 header")
        raise
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise SourceInputError(source, f"{origin}:1",
                               f"duplicate column name(s) in the header: {', '.join(duplicates)}")
    if invalid and any(number is None for number, *_ in invalid):
        # Arrow's parallel parser cannot tell line numbers; a dirty file is read again in one thread.
        invalid.clear()
        _read_csv(data, column_types, invalid, encoding=encoding, delimiter=delimiter, threads=False)
    bad = [(number or 0, text, f"line {number}: {actual} fields, header has {expected}")
           for number, text, expected, actual in invalid]
    return ParsedUnit(table, bad)


def _check_quotes(data: bytes, encoding: str, delimiter: str, *, source: str, origin: str) -> None:
    """An unterminated quote makes Arrow take every following line into one value: find it and fail.

    Balanced quotes (an even count) cannot leave a value open at the end, so only an odd count is read
    again, by Python's csv module, to find the line the open value starts on.
    """
    if data.count(b'"') % 2 == 0:
        return
    import csv

    reader = csv.reader(io.StringIO(data.decode(encoding, errors="replace"), newline=""),
                        delimiter=delimiter, strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return  # some other oddity Arrow read its own way: not an open quote
        raise SourceInputError(source, f"{origin}:{start}", f"unterminated quoted value starting on line {start}: "
                          "a '\"' opens a value that never closes, so every following line would be read "
                          "into it") from None


def _csv_header(data: bytes, encoding: str, delimiter: str) -> list[str]:
    import csv

    first = data.split(b"\n", 1)[0].decode(encoding, errors="replace").rstrip("\r")
    return next(csv.reader([first], delimiter=delimiter), [])


def _read_csv(
    data: bytes,
    column_types: Mapping[str, pa.DataType],
    invalid: list[tuple[int | None, str, int, int]],
    *,
    encoding: str,
    delimiter: str,
    threads: bool,
) -> pa.Table:
    import pyarrow.csv as pacsv

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    return pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(use_threads=threads, encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
        # Empty fields are missing values; "NA", "null" and friends stay text.
        convert_options=pacsv.ConvertOptions(
            column_types=dict(column_types), null_values=[""], strings_can_be_null=True,
            true_values=["true", "True", "TRUE", "1"], false_values=["false", "False", "FALSE", "0"],
        ),
    )


def _raise_if_not_text(data: bytes, encoding: str, *, source: str, origin: str, error: str) -> None:
    """Turn Arrow's "invalid UTF8" into an error naming the line and byte."""
    if "utf8" not in error.lower() and "utf-8" not in error.lower():
        return
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceInputError(source, f"{origin}:{line}",
                               f"not {_shown(encoding)} ({exc.reason} at byte {exc.start}); "
                               "set location.encoding if the file uses another encoding") from None
    raise SourceInputError(source, origin, f"unreadable text ({error})")


def _shown(encoding: str) -> str:
    return "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


# -- JSON lines -------------------------------------------------------------------------------------

def _parse_jsonl(data: bytes, *, source: str, origin: str, kinds: Mapping[str, str], encoding: str) -> ParsedUnit:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        import pyarrow.json as pajson

        schema = pa.schema([(name, _READ_TYPES.get(kind, pa.string())) for name, kind in kinds.items()])
        try:
            data.decode("utf-8")  # Arrow's JSON reader does not check: an invalid string would be published
        except UnicodeDecodeError:
            return _parse_json_lines(data, kinds, encoding)
        try:
            table = pajson.read_json(
                pa.BufferReader(data),
                parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
            )
            return ParsedUnit(table)
        except pa.ArrowInvalid:
            pass  # a malformed line, mixed types, or not UTF-8: line by line below names each problem
    return _parse_json_lines(data, kinds, encoding)


def _parse_json_lines(data: bytes, kinds: Mapping[str, str], encoding: str) -> ParsedUnit:
    """Line by line: a line that is not text in `encoding`, not JSON or not an object is a bad row."""
    import pandas as pd

    records, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode(encoding).rstrip("\r")
        except UnicodeDecodeError as exc:
            shown = raw.decode(encoding, errors="backslashreplace").rstrip("\r")
            bad.append((number, shown, f"line {number}: not {_shown(encoding)} ({exc.reason} at byte {exc.start} "
                        "of the line); set location.encoding if the file uses another encoding"))
            continue
        if number == 1:
            line = line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append((number, line, f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(record, dict):
            bad.append((number, line, f"line {number}: expected a JSON object, got {type(record).__name__}"))
            continue
        records.append(record)
    # Object columns keep each value as parsed: an integer beyond 2^53 is not rounded through float64.
    names = list(dict.fromkeys(key for record in records for key in record))
    names += [name for name in kinds if name not in names and records]  # absent everywhere: null
    frame = pd.DataFrame({name: pd.Series([record.get(name) for record in records], dtype=object)
                          for name in names})
    if not names:
        frame = pd.DataFrame(index=range(len(records)))
    return ParsedUnit(frame, bad)
