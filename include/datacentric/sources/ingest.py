"""Ingestion: read each new unit of a source, type its rows by the manifest, publish to the raw zone.

Rows that cannot be parsed or typed go to the quarantine zone with a reason naming the origin, the line
and the column. For every run: rows in = rows published + rows quarantined. A unit whose identity
(size and mtime, ETag) or content checksum was already ingested is skipped, so re-running the same
interval publishes nothing new; a backfill of a past window takes exactly the units dated in it.

Typing is done in Arrow, column by column: a column that casts cleanly to its manifest type costs
one vectorised cast and no Python per row. Only a column with values that do not convert is taken
through pandas, to find which rows fail and why.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from datacentric.errors import RepositoryError, SourceError
from datacentric.manifest.model import Column, LoadedManifest
from datacentric.repository.store import DataRepository
from datacentric.sources import EVERYTHING, Window, reader_for
from datacentric.sources import state as state_file

ARROW_TYPES = {
    "int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
    "timestamp": pa.timestamp("ns", tz="UTC"), "date": pa.timestamp("ns"),
}
PANDAS_DTYPES = {
    "int": "Int64", "float": "float64", "str": "object", "bool": "boolean",
    "timestamp": "datetime64[ns, UTC]", "date": "datetime64[ns]",
}
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)


@dataclass
class IngestResult:
    source: str
    window: dict[str, str | None] = field(default_factory=dict)
    units_seen: int = 0
    units_ingested: int = 0
    units_skipped: int = 0
    units_empty: int = 0
    rows_in: int = 0
    rows_published: int = 0
    rows_quarantined: int = 0
    published: list[str] = field(default_factory=list)
    schema_fingerprint: str | None = None
    schema_changes: list[str] = field(default_factory=list)
    state_changed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- typing ---------------------------------------------------------------------------------------

@dataclass
class Typed:
    """Rows typed by the manifest: every row, with the ones that failed marked and explained."""

    table: pa.Table  # untypable cells are null here; `bad` says which rows to quarantine
    source: Any  # the rows as delivered (Arrow table or pandas frame), for the quarantine's records
    bad: np.ndarray | None = None
    reasons: np.ndarray | None = None

    def good(self) -> pa.Table:
        return self.table if self.bad is None else self.table.filter(pa.array(~self.bad))

    def rejected(self) -> tuple[list[int], list[str], list[str]]:
        """(row numbers from 1, each row as JSON, reasons) of the rows that failed typing."""
        if self.bad is None or self.reasons is None:
            return [], [], []
        index = np.flatnonzero(self.bad)
        if isinstance(self.source, pa.Table):
            rows = self.source.take(pa.array(index)).to_pylist()
        else:
            rows = self.source.iloc[index].to_dict(orient="records")
        records = [json.dumps({k: _jsonable(v) for k, v in r.items()}, default=str, sort_keys=True) for r in rows]
        return [int(i) + 1 for i in index], records, [str(r) for r in self.reasons[index]]


def coerce(data: pa.Table | pd.DataFrame, columns: dict[str, Column], *, source: str, origin: str) -> Typed:
    """Cast every declared column to its manifest type; other columns pass through as delivered.

    A declared column missing from a non-empty unit is an error naming the origin and the column.
    """
    data = _resolve_paths(data, columns, source=source, origin=origin)
    names = list(data.column_names if isinstance(data, pa.Table) else map(str, data.columns))
    rows = data.num_rows if isinstance(data, pa.Table) else len(data)
    missing = [name for name in columns if name not in names]
    if missing and rows:
        raise SourceError(source, origin, f"missing column(s) {', '.join(missing)}; found {', '.join(names)}")
    arrays: dict[str, Any] = {}
    bad: np.ndarray | None = None
    reasons: np.ndarray | None = None
    for name in [*names, *missing]:
        column = columns.get(name)
        if name in missing:
            arrays[name] = pa.nulls(rows, ARROW_TYPES[columns[name].type])
            continue
        raw = data.column(name) if isinstance(data, pa.Table) else _arrow_or_series(data[name])
        if column is None:
            arrays[name] = raw if not isinstance(raw, pd.Series) else _as_text(raw)
            continue
        zoned = column.format is not None or column.timezone is not None
        typed = _fast_cast(raw, column.type) if not isinstance(raw, pd.Series) and not zoned else None
        if typed is None:
            values = raw if isinstance(raw, pd.Series) else _to_pandas(raw)
            typed, failed, shown = _tolerant_cast(values, column.type, column)
            if failed.any():
                if bad is None or reasons is None:
                    bad, reasons = np.zeros(rows, dtype=bool), np.full(rows, "", dtype=object)
                bad |= failed
                reasons[failed] += f"{name}: expected {_expected(column)}, got '" + shown[failed] + "'; "
        arrays[name] = typed
    table = pa.table(arrays) if arrays else pa.table({})
    table = table.replace_schema_metadata(_pandas_metadata(table, columns))
    if reasons is not None:
        reasons = np.array([r.rstrip("; ") for r in reasons], dtype=object)
    return Typed(table, data, bad, reasons)


def _expected(column: Column) -> str:
    """The type a column's values must have, in words, for quarantine reasons."""
    details = [f"format {column.format!r}"] if column.format else []
    details += [f"time zone {column.timezone}"] if column.timezone else []
    return f"{column.type} ({', '.join(details)})" if details else column.type


def _to_pandas(values: pa.ChunkedArray | pa.Array) -> pd.Series:
    """An Arrow column as a pandas series of Python values where pandas would round (int64 via float)."""
    if pa.types.is_integer(values.type) or pa.types.is_decimal(values.type):
        return pd.Series(values.to_pylist(), dtype=object)
    try:
        return values.to_pandas()
    except _ARROW_ERRORS:
        return pd.Series(values.to_pylist(), dtype=object)


def _resolve_paths(data: pa.Table | pd.DataFrame, columns: dict[str, Column], *, source: str,
                   origin: str) -> pa.Table | pd.DataFrame:
    """Add each column with a `path` (e.g. device.id) from the nested records it names."""
    paths = {name: column.path.split(".") for name, column in columns.items() if column.path}
    if not paths:
        return data
    names = list(data.column_names if isinstance(data, pa.Table) else map(str, data.columns))
    rows = data.num_rows if isinstance(data, pa.Table) else len(data)
    for name, steps in paths.items():
        if steps[0] not in names:
            if rows:
                raise SourceError(source, origin, f"column {name!r}: no field {steps[0]!r} for its path "
                                  f"{'.'.join(steps)}; found {', '.join(names)}")
            continue
        values = data.column(steps[0]).to_pylist() if isinstance(data, pa.Table) else list(data[steps[0]])
        for step in steps[1:]:
            values = [v.get(step) if isinstance(v, dict) else None for v in values]
        series = pd.Series(values, dtype=object)
        if isinstance(data, pa.Table):
            data = _table_as_frame(data)
        data[name] = series.to_numpy()
    return data


def _table_as_frame(table: pa.Table) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(table.column(name).to_pylist(), dtype=object) for name in table.column_names})


def _fast_cast(values: pa.ChunkedArray | pa.Array, kind: str) -> pa.ChunkedArray | pa.Array | None:
    """The vectorised cast of a column, or None when some value needs a closer look."""
    t = values.type
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    number = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    try:
        if kind == "int" and (pa.types.is_integer(t) or pa.types.is_null(t) or text or number):
            return values.cast(pa.int64())  # safe: a fraction, NaN or overflow raises
        if kind == "float" and (number or pa.types.is_null(t) or text):
            return values.cast(pa.float64())
        if kind == "str" and (text or pa.types.is_null(t) or pa.types.is_integer(t)):
            return values.cast(pa.string())
        if kind == "bool" and (pa.types.is_boolean(t) or pa.types.is_null(t) or text):
            return values.cast(pa.bool_())
        if kind in ("timestamp", "date"):
            stamps = _utc_timestamps(values)
            if stamps is None:
                return None
            if kind == "date":
                return pc.floor_temporal(stamps, unit="day").cast(pa.timestamp("ns"))
            return stamps
    except _ARROW_ERRORS:
        return None
    return None


def _utc_timestamps(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array | None:
    """Timestamps in UTC; values without a zone are taken as UTC."""
    utc = pa.timestamp("ns", tz="UTC")
    t = values.type
    if pa.types.is_timestamp(t):
        return values.cast(utc) if t.tz is not None else values.cast(pa.timestamp("ns")).cast(utc)
    if pa.types.is_date(t) or pa.types.is_null(t):
        return values.cast(pa.timestamp("ns")).cast(utc)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            return values.cast(utc)
        except _ARROW_ERRORS:
            return values.cast(pa.timestamp("ns")).cast(utc)
    return None


def _tolerant_cast(values: pd.Series, kind: str, column: Column | None = None
                   ) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Cast through pandas: the typed column, which rows failed, and how each value looked."""
    values = values.reset_index(drop=True)
    if column is not None and (column.format or column.timezone):
        converted, ok = _zoned_times(values, kind, column.format, column.timezone)
    else:
        converted, ok = _convert(values, kind)
    failed = (values.notna() & ~ok).to_numpy(dtype=bool)
    shown = pd.Series("", index=values.index, dtype=object)
    if failed.any():
        shown[failed] = values[failed].astype(str).str.slice(0, 40)
    return pa.array(converted, type=ARROW_TYPES[kind], from_pandas=True), failed, shown.to_numpy(dtype=object)


def _exact_int(value: Any) -> int | None:
    """The integer a value stands for exactly (42, "42", 42.0, "4.2e1"), or None; never through float64
    for text, so 9007199254740993 stays itself. Values beyond int64 are None (they do not fit)."""
    from decimal import Decimal, InvalidOperation

    if isinstance(value, bool) or _missing(value):
        return None
    number: Any = value
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 400:
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                number = Decimal(text)
            except InvalidOperation:
                return None
    elif isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        number = Decimal(float(value))
    elif isinstance(value, np.integer):
        number = int(value)
    if isinstance(number, Decimal):
        if not number.is_finite() or number != number.to_integral_value() or abs(number) > 2**63:
            return None
        number = int(number)
    if not isinstance(number, int) or not -(2**63) <= number < 2**63:
        return None
    return number


def _zoned_times(values: pd.Series, kind: str, fmt: str | None, zone: str | None) -> tuple[pd.Series, pd.Series]:
    """Timestamps parsed with a strptime format and/or taken in an IANA zone when written without an
    offset; ambiguous or nonexistent local times (daylight saving) do not convert."""
    def one(value: Any) -> Any:
        if _missing(value):
            return pd.NaT
        try:
            if isinstance(value, str):
                stamp = pd.Timestamp(datetime.strptime(value, fmt)) if fmt else pd.Timestamp(value)
            elif isinstance(value, datetime | pd.Timestamp):
                stamp = pd.Timestamp(value)
            else:
                return pd.NaT
            if stamp.tzinfo is None:
                stamp = stamp.tz_localize(zone or "UTC", ambiguous="raise", nonexistent="raise")
            return stamp.tz_convert("UTC")
        except Exception:  # ValueError, OutOfBoundsDatetime, pytz's NonExistentTimeError/AmbiguousTimeError
            return pd.NaT

    stamps = pd.Series([one(v) for v in values], index=values.index, dtype="datetime64[ns, UTC]")
    ok = stamps.notna() | values.map(_missing)
    if kind == "date":
        stamps = stamps.dt.tz_localize(None).dt.normalize()
    return stamps, ok


def _convert(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """The converted column and a mask of the rows whose value converted (nulls count as converted)."""
    if kind == "int":
        exact = [_exact_int(v) for v in values]  # a list: pandas' map would turn ints and None into floats
        ok = pd.Series([e is not None for e in exact], index=values.index) | values.map(_missing)
        return pd.Series(pd.array(exact, dtype="Int64"), index=values.index), ok
    if kind in ("int", "float"):
        if values.dtype == bool or pd.api.types.is_bool_dtype(values):
            number = pd.Series(np.nan, index=values.index)
        else:
            number = pd.to_numeric(values.map(lambda v: np.nan if isinstance(v, bool) else v), errors="coerce")
        ok = number.notna() | values.isna()
        if kind == "int":
            whole = number.isna() | (number == np.floor(number.fillna(0)))
            ok &= whole
            number = number.where(ok & whole)
            return number.astype("Int64"), ok
        return number.astype("float64"), ok
    if kind == "str":
        ok = values.isna() | values.map(lambda v: isinstance(v, str | int | float) and not isinstance(v, bool))
        return values.where(values.isna() | ~ok, values.astype(str)).where(ok).astype(object), ok
    if kind == "bool":
        # True == 1 and False == 0 as keys, so 1 and 0 map too.
        mapping = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}
        lowered = values.map(lambda v: v.lower() if isinstance(v, str) else v)
        converted = lowered.map(lambda v: mapping.get(v, pd.NA) if not _missing(v) else pd.NA)
        return converted.astype("boolean"), converted.notna() | values.isna()
    if kind in ("timestamp", "date"):
        if pd.api.types.is_datetime64_any_dtype(values):
            stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        else:
            texts = values.map(lambda v: v if isinstance(v, str | datetime | pd.Timestamp) else None)
            stamps = pd.to_datetime(texts, errors="coerce", utc=True, format="ISO8601")
        ok = stamps.notna() | values.isna()
        if kind == "date":
            stamps = stamps.dt.tz_localize(None).dt.normalize()
        return stamps, ok
    raise ValueError(f"unknown column type {kind!r}")


def _arrow_or_series(values: pd.Series) -> pa.Array | pd.Series:
    """An Arrow array when pandas values convert as a whole (one type), else the series itself."""
    try:
        return pa.array(values, from_pandas=True)
    except _ARROW_ERRORS:
        return values


def _as_text(values: pd.Series) -> pa.Array:
    """An undeclared column of mixed values, kept as text (objects as JSON)."""
    return pa.array([None if _missing(v) else json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
                     for v in values], type=pa.string())


_METADATA: dict[tuple[Any, ...], dict[bytes, bytes]] = {}


def _pandas_metadata(table: pa.Table, columns: dict[str, Column]) -> dict[bytes, bytes]:
    """pandas metadata so readers get the manifest's dtypes back (Int64, boolean) even for empty or null columns."""
    key = (tuple((f.name, str(f.type)) for f in table.schema), tuple((n, c.type) for n, c in columns.items()))
    if key not in _METADATA:
        empty = table.slice(0, 0).to_pandas()
        for name, column in columns.items():
            if name in empty.columns:
                empty[name] = empty[name].astype(PANDAS_DTYPES[column.type])
        _METADATA[key] = pa.Schema.from_pandas(empty, preserve_index=False).metadata or {}
    return _METADATA[key]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return value


# -- ingestion ------------------------------------------------------------------------------------

def ingest_source(
    loaded: LoadedManifest,
    name: str,
    repo: DataRepository,
    *,
    landing_root: Path,
    run_id: str,
    clients: dict[str, Any] | None = None,
    window: Window | None = None,
    last_snapshot: str | None = None,
) -> IngestResult:
    """Ingest every unit of source `name` in `window` not ingested before into `repo`'s raw zone.

    Without a window everything new is taken. Afterwards the source's entry in the state file says
    what the run learned (see `datacentric.sources.state`); it is rewritten only when something changed.
    """
    spec = loaded.spec.sources.get(name)
    if spec is None:
        raise SourceError(name, str(loaded.path), f"not in the manifest (sources: {', '.join(loaded.spec.sources)})")
    window = window or EVERYTHING
    repo.sweep_temporaries(repo.path("raw", name), repo.path("quarantine", name), repo.state_path(loaded.name).parent)
    previous = state_file.source_state(repo, loaded.name, name)
    reader = reader_for(name, spec, landing_root=landing_root, clients=clients)
    result = IngestResult(source=name, window=window.as_dict())
    cursors: list[Any] = []
    publisher = _Publisher()
    try:
        units = reader.units(window, previous)
        result.units_seen = len(units)
        marks = repo.origin_marks(name)
        for unit in units:
            mark = marks.get(unit.origin)
            if unit.identity is not None and mark is not None and mark.get("identity") == unit.identity:
                result.units_skipped += 1
                continue
            parsed = reader.read(unit)
            cursors.append(parsed.cursor)
            if mark is not None and mark.get("sha256") == parsed.fingerprint:
                result.units_skipped += 1
                continue
            if mark is None and parsed.rows == 0 and not parsed.bad_rows and unit.bounds is not None:
                result.units_empty += 1  # a partition with no rows yet: nothing to keep
                continue
            typed = coerce(parsed.data, spec.columns, source=name, origin=unit.origin)
            good = typed.good()
            rejected = _quarantine_table(typed, parsed.bad_rows, unit.origin)
            provenance = {
                "source": name,
                "origin": unit.origin,
                "origin_sha256": parsed.fingerprint,
                "origin_identity": unit.identity or "",
                "manifest_sha256": loaded.sha256,
                "stage": "ingest",
                "window": window.as_dict(),
                "schema": _delivered_schema(parsed.data),
                "max_time": _max_time(good, reader_column(spec)),
            }
            publisher.submit(_publish_unit(repo, name, unit.name, good, rejected, provenance, run_id))
            result.units_ingested += 1
            result.rows_in += parsed.rows + len(parsed.bad_rows)
            result.rows_published += good.num_rows
            result.rows_quarantined += rejected.num_rows
        reader_state = reader.next_state(window, previous, cursors)
        publisher.finish()
    finally:
        publisher.close()
        reader.close()
    changed = publisher.changed
    result.published = publisher.published
    if result.rows_in != result.rows_published + result.rows_quarantined:
        raise RepositoryError(f"source {name!r}: rows in {result.rows_in} != published {result.rows_published} "
                              f"+ quarantined {result.rows_quarantined}")
    facts = _facts(repo, name, spec, reader_state)
    result.schema_fingerprint = facts.get("schema_fingerprint")
    result.schema_changes = state_file.schema_changes(previous.get("schema"), facts.get("schema") or {})
    run = None
    if changed or {k: previous.get(k) for k in state_file.FACTS} != facts:
        run = {
            "last_run": {
                "run_id": run_id,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "window": window.as_dict(),
                "rows_in": result.rows_in,
                "rows_published": result.rows_published,
                "rows_quarantined": result.rows_quarantined,
                "manifest_sha256": loaded.sha256,
            },
            "last_snapshot": last_snapshot,
        }
    result.state_changed = state_file.record_source(repo, loaded.name, name, facts, run, run_id=run_id)
    return result


def _publish_unit(
    repo: DataRepository, source: str, unit: str, good: pa.Table, rejected: pa.Table, provenance: dict[str, Any],
    run_id: str,
) -> Callable[[], tuple[bool, str]]:
    """The publication of one unit: its quarantined rows, then its raw rows. Returns (changed, raw path).

    Quarantine first: if the task dies between the two, the retry re-reads the unit (its raw file is
    not recorded yet) and rewrites the same quarantine bytes, a no-op.
    """
    def publish() -> tuple[bool, str]:
        changed = False
        quarantine_path = f"{source}/ingest/{unit}.parquet"
        if rejected.num_rows:
            changed |= repo.publish_table("quarantine", quarantine_path, rejected, run_id=run_id,
                                          provenance={**provenance, "kind": "quarantine"}).changed
        elif repo.path("quarantine", quarantine_path).exists():
            changed |= repo.remove("quarantine", quarantine_path, run_id=run_id,
                                   reason="the unit was ingested again and none of its rows failed")
        published = repo.publish_table("raw", f"{source}/{unit}.parquet", good, run_id=run_id, provenance=provenance)
        return changed or published.changed, published.path

    return publish


class _Publisher:
    """Publishes units on one background thread, in order, while the next unit is read and typed.

    Parquet encoding, hashing, writing and fsync release the GIL, so reading unit n+1 overlaps
    publishing unit n; at most `depth` units wait, which bounds memory. One thread keeps the change
    log in the order the units were read.
    """

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self.changed = False
        self.published: list[str] = []
        self._pending: deque[Future[tuple[bool, str]]] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, publish: Callable[[], tuple[bool, str]]) -> None:
        while len(self._pending) >= self.depth:
            self._collect(self._pending.popleft())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datacentric-publish")
        self._pending.append(self._pool.submit(publish))

    def finish(self) -> None:
        while self._pending:
            self._collect(self._pending.popleft())

    def close(self) -> None:
        """Let started publications end (each is atomic) before the caller's error propagates."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _collect(self, future: Future[tuple[bool, str]]) -> None:
        changed, path = future.result()
        self.changed |= changed
        self.published.append(path)


def reader_column(spec: Any) -> str | None:
    """The column whose newest value is the source's watermark: the incremental column, else event_time."""
    return getattr(spec.location, "incremental_column", None) or spec.event_time


def _facts(repo: DataRepository, name: str, spec: Any, reader_state: dict[str, Any]) -> dict[str, Any]:
    """What the repository now holds of a source, from the change log's index (no file is read)."""
    raw = [r for path, r in repo.live().items() if path.startswith(f"raw/{name}/")]
    latest = max(raw, key=lambda r: r.at, default=None)
    times = [when for r in raw if (when := r.provenance.get("max_time"))]
    column = reader_column(spec)
    schema = dict(latest.provenance.get("schema") or {}) if latest is not None else {}
    return {
        "type": spec.type,
        "files": len(raw),
        "rows": sum(r.rows or 0 for r in raw),
        "watermark": {"column": column, "value": max(times)} if column and times else None,
        "cursor": reader_state.get("cursor"),
        "schema": schema or None,
        "schema_fingerprint": state_file.schema_fingerprint(schema) if schema else None,
    }


def _delivered_schema(data: pa.Table | pd.DataFrame) -> dict[str, str]:
    if isinstance(data, pa.Table):
        return {f.name: str(f.type) for f in data.schema}
    return {str(c): str(t) for c, t in data.dtypes.items()}


def _max_time(table: pa.Table, column: str | None) -> Any:
    if column is None or column not in table.column_names or table.num_rows == 0:
        return None
    values = table.column(column)
    top = pc.max(values).as_py()
    if top is None or not pa.types.is_timestamp(values.type):
        return top  # an id or a sequence: compared as what it is
    return (top if top.tzinfo else top.replace(tzinfo=UTC)).isoformat()


def _quarantine_table(typed: Typed, unparsed: list[tuple[int, str, str]], origin: str) -> pa.Table:
    """Rejected rows as text (they did not type), each with its origin, position and reasons."""
    numbers, records, reasons = typed.rejected()
    numbers += [line for line, _, _ in unparsed]
    records += [text for _, text, _ in unparsed]
    reasons += [reason for _, _, reason in unparsed]
    return pa.table({
        "_origin": pa.array([origin] * len(numbers), pa.string()),
        "_row": pa.array(numbers, pa.int64()),
        "_record": pa.array(records, pa.string()),
        "_reasons": pa.array(reasons, pa.string()),
        "_stage": pa.array(["ingest"] * len(numbers), pa.string()),
    })
