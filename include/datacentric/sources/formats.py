"""Parsers for the file formats sources deliver: CSV, JSON lines and Parquet, from bytes."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datacentric.errors import SourceError
from datacentric.sources.base import ParsedUnit


def parse(data: bytes, fmt: str, *, source: str, origin: str) -> ParsedUnit:
    if fmt == "parquet":
        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise SourceError(source, origin, f"not a readable Parquet file ({exc})") from None
        return ParsedUnit(table.to_pandas())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(source, f"{origin}:{line}", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if fmt == "jsonl":
        return _parse_jsonl(text)
    if fmt == "csv":
        return _parse_csv(text, source=source, origin=origin)
    raise SourceError(source, origin, f"unknown format {fmt!r}; expected csv, jsonl or parquet")


def _parse_jsonl(text: str) -> ParsedUnit:
    records, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
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
    return ParsedUnit(pd.DataFrame.from_records(records), bad)


def _parse_csv(text: str, *, source: str, origin: str) -> ParsedUnit:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return ParsedUnit(pd.DataFrame())
    except csv.Error as exc:
        raise SourceError(source, f"{origin}:1", f"unreadable CSV header ({exc})") from None
    rows, bad = [], []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append((reader.line_num, "", f"line {reader.line_num}: malformed CSV ({exc})"))
            continue
        if not row:
            continue
        if len(row) != len(header):
            bad.append(
                (reader.line_num, ",".join(row), f"line {reader.line_num}: {len(row)} fields, header has {len(header)}")
            )
            continue
        rows.append(row)
    # Empty CSV fields are missing values, not empty strings.
    frame = pd.DataFrame(rows, columns=header, dtype=object).replace("", None)
    return ParsedUnit(frame, bad)
