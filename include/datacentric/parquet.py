"""Parquet encoding of frames and Arrow tables, shared by every zone writer."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def table_to_parquet_bytes(table: Any) -> Any:
    """An Arrow table as Parquet, in an Arrow buffer (no copy into Python bytes).

    Dictionary encoding is asked for only where a sample of the column repeats itself: on ids, prices
    and times the writer would build a dictionary only to drop it, which doubles the time it takes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, use_dictionary=_repetitive_columns(table) or False)
    return sink.getvalue()


def _repetitive_columns(table: Any, sample: int = 10_000) -> list[str]:
    import pyarrow as pa
    import pyarrow.compute as pc

    names = []
    for field_ in table.schema:
        t = field_.type
        if pa.types.is_nested(t) or pa.types.is_boolean(t) or pa.types.is_null(t) or pa.types.is_dictionary(t):
            continue
        head = table.column(field_.name).slice(0, sample)
        if len(head) and pc.count_distinct(head).as_py() <= len(head) // 2:
            names.append(field_.name)
    return names
