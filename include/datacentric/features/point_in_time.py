"""Point-in-time joins of entity rows with the offline tables of feature views, in DuckDB.

For each entity row and each view, the features come from the latest row of the view's table with
the same join keys and a timestamp at or before the row's event time, no older than the view's ttl;
else they are null. One `ASOF LEFT JOIN` per view over its Parquet table, the ttl applied in the same
query, times compared as integer nanoseconds (no rounding at the edges). Each view is judged on its
own: a row whose features in one view have expired keeps its features from the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from datacentric.errors import FeatureStoreError

ROW = "__row"
EVENT_NS = "__event_ns"
TIME_NS = "__time_ns"


@dataclass(frozen=True)
class ViewTable:
    """What a point-in-time join needs of one feature view."""

    name: str
    path: Path
    keys: list[str]
    timestamp: str
    features: list[str]
    ttl: timedelta | None


def point_in_time_features(rows: pd.DataFrame, event_time: str, tables: list[ViewTable]) -> pd.DataFrame:
    """The requested features of every view for each row of `rows`, in row order (a fresh RangeIndex).

    `rows` holds the join keys of the views (no nulls) and `event_time` (datetime64[ns, UTC]). Feature
    columns keep the Arrow types of the tables: integers come back as pandas Int64, text as objects.
    """
    import duckdb

    for table in tables:
        if not table.path.is_file():
            raise FeatureStoreError(
                f"offline table {table.path} of feature view {table.name!r} does not exist; "
                "run export_feature_tables first"
            )
    keys = list(dict.fromkeys(k for table in tables for k in table.keys))
    left = pa.table({
        **{key: pa.array(rows[key].to_numpy()) for key in keys},
        EVENT_NS: pa.array(pd.DatetimeIndex(rows[event_time]).asi8, pa.int64()),
        ROW: pa.array(np.arange(len(rows), dtype=np.int64)),
    })
    con = duckdb.connect()
    try:
        con.register("entity_rows", left)
        result = con.sql(_query(tables)).to_arrow_table()
    finally:
        con.close()
    frame = result.drop_columns([ROW]).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return frame.set_axis(pd.RangeIndex(len(frame)))


def _query(tables: list[ViewTable]) -> str:
    select, joins = [f"r.{_quoted(ROW)}"], []
    for i, table in enumerate(tables):
        alias = f"v{i}"
        columns = ", ".join(_quoted(c) for c in dict.fromkeys([*table.keys, *table.features]))
        source = (f"(SELECT {columns}, epoch_ns({_quoted(table.timestamp)}) AS {TIME_NS} "
                  f"FROM read_parquet({_literal(table.path)}))")
        on = " AND ".join([*(f"r.{_quoted(k)} = {alias}.{_quoted(k)}" for k in table.keys),
                           f"r.{EVENT_NS} >= {alias}.{TIME_NS}"])
        joins.append(f"ASOF LEFT JOIN {source} AS {alias} ON {on}")
        ttl_ns = _nanoseconds(table.ttl)
        for feature in table.features:
            value = f"{alias}.{_quoted(feature)}"
            if ttl_ns:
                value = f"CASE WHEN {alias}.{TIME_NS} >= r.{EVENT_NS} - {ttl_ns} THEN {value} END"
            select.append(f"{value} AS {_quoted(feature)}")
    return f"SELECT {', '.join(select)} FROM entity_rows AS r {' '.join(joins)} ORDER BY r.{_quoted(ROW)}"


def _nanoseconds(ttl: timedelta | None) -> int:
    if ttl is None:
        return 0
    return (ttl.days * 86_400 + ttl.seconds) * 1_000_000_000 + ttl.microseconds * 1_000


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
