"""Ingestion: read each new unit of a source, type its rows by the manifest, publish to the raw zone.

Rows that cannot be parsed or typed go to the quarantine zone with a reason naming the origin, the line
and the column. For every run: rows in = rows published + rows quarantined. A unit whose fingerprint
was already ingested is skipped, so re-running the same interval publishes nothing new.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datacentric.errors import SourceError
from datacentric.manifest import Column, LoadedManifest
from datacentric.repository import DataRepository
from datacentric.sources import reader_for

PANDAS_DTYPES = {"int": "Int64", "float": "float64", "str": "object", "bool": "boolean"}


@dataclass
class IngestResult:
    source: str
    units_seen: int = 0
    units_ingested: int = 0
    units_skipped: int = 0
    rows_in: int = 0
    rows_published: int = 0
    rows_quarantined: int = 0
    published: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def coerce(frame: pd.DataFrame, columns: dict[str, Column], *, source: str, origin: str) -> tuple[pd.DataFrame, pd.Series]:
    """Cast every declared column to its manifest type.

    Returns the typed frame and, per row, the reasons it could not be typed ("" when it could).
    A declared column missing from the data is an error naming the origin and the column.
    """
    missing = [name for name in columns if name not in frame.columns]
    if missing and len(frame):
        raise SourceError(source, origin, f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}")
    typed = frame.copy()
    reasons = pd.Series("", index=frame.index, dtype=object)
    for name, column in columns.items():
        if name not in typed.columns:
            typed[name] = pd.Series([None] * len(typed), index=typed.index, dtype=object)
        values = typed[name]
        present = values.notna()
        converted, ok = _convert(values, column.type)
        bad = present & ~ok
        if bad.any():
            shown = values[bad].astype(str).str.slice(0, 40)
            reasons[bad] = reasons[bad] + f"{name}: expected {column.type}, got '" + shown + "'; "
        typed[name] = converted
    return typed, reasons.str.rstrip("; ")


def _convert(values: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """The converted column and a mask of the rows whose value converted (nulls count as converted)."""
    if kind in ("int", "float"):
        if values.dtype == bool or pd.api.types.is_bool_dtype(values):
            number = pd.Series(np.nan, index=values.index)
        else:
            number = pd.to_numeric(values, errors="coerce")
        ok = number.notna() | values.isna()
        if kind == "int":
            whole = number.isna() | (number == np.floor(number.fillna(0)))
            ok &= whole
            number = number.where(ok & whole)
            return number.astype("Int64"), ok
        return number.astype("float64"), ok
    if kind == "str":
        ok = values.isna() | values.map(lambda v: isinstance(v, str | int | float) and not isinstance(v, bool))
        return values.where(values.isna(), values.astype(str)).astype(object), ok
    if kind == "bool":
        mapping = {True: True, False: False, "true": True, "false": False, "1": True, "0": False, 1: True, 0: False}
        lowered = values.map(lambda v: v.lower() if isinstance(v, str) else v)
        converted = lowered.map(lambda v: mapping.get(v, pd.NA) if not pd.isna(v) else pd.NA)
        return converted.astype("boolean"), converted.notna() | values.isna()
    if kind in ("timestamp", "date"):
        if pd.api.types.is_datetime64_any_dtype(values):
            stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        else:
            stamps = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
        ok = stamps.notna() | values.isna()
        if kind == "date":
            stamps = stamps.dt.tz_localize(None).dt.normalize()
        return stamps, ok
    raise ValueError(f"unknown column type {kind!r}")


def ingest_source(
    loaded: LoadedManifest,
    name: str,
    repo: DataRepository,
    *,
    landing_root: Path,
    run_id: str,
    clients: dict[str, Any] | None = None,
) -> IngestResult:
    """Ingest every unit of source `name` not ingested before into `repo`'s raw zone."""
    spec = loaded.spec.sources.get(name)
    if spec is None:
        raise SourceError(name, str(loaded.path), f"not in the manifest (sources: {', '.join(loaded.spec.sources)})")
    reader = reader_for(name, spec, landing_root=landing_root, clients=clients)
    result = IngestResult(source=name)
    seen = repo.origins_seen(name)
    units = reader.units()
    result.units_seen = len(units)
    if not units:
        raise SourceError(name, str(getattr(spec.location, "path", spec.location)), "no data found (empty source)")
    for unit in units:
        if unit.fingerprint is not None and seen.get(unit.origin) == unit.fingerprint:
            result.units_skipped += 1
            continue
        parsed = reader.read(unit)
        if seen.get(unit.origin) == parsed.fingerprint:
            result.units_skipped += 1
            continue
        typed, reasons = coerce(parsed.frame, spec.columns, source=name, origin=unit.origin)
        bad = reasons != ""
        good = typed.loc[~bad].reset_index(drop=True)
        rejected = _quarantine_frame(parsed.frame.loc[bad], reasons[bad], parsed.bad_rows, unit.origin)
        provenance = {
            "source": name,
            "origin": unit.origin,
            "origin_sha256": parsed.fingerprint,
            "manifest_sha256": loaded.sha256,
            "stage": "ingest",
        }
        rows_in = len(parsed.frame) + len(parsed.bad_rows)
        # Quarantine first: if the task dies between the two, the retry re-reads the unit (its raw
        # file is not there yet) and rewrites the same quarantine bytes, a no-op.
        if len(rejected):
            repo.publish_frame("quarantine", f"{name}/ingest/{unit.name}.parquet", rejected, run_id=run_id,
                               provenance={**provenance, "kind": "quarantine"})
        published = repo.publish_frame("raw", f"{name}/{unit.name}.parquet", good, run_id=run_id, provenance=provenance)
        result.units_ingested += 1
        result.rows_in += rows_in
        result.rows_published += len(good)
        result.rows_quarantined += len(rejected)
        result.published.append(published.path)
    assert result.rows_in == result.rows_published + result.rows_quarantined
    return result


def _quarantine_frame(rows: pd.DataFrame, reasons: pd.Series, unparsed: list[tuple[int, str, str]], origin: str) -> pd.DataFrame:
    """Rejected rows as text (they did not type), each with its origin, position and reasons."""
    typed_out = pd.DataFrame(
        {
            "_origin": origin,
            "_row": rows.index.astype("int64") + 1,
            "_record": [json.dumps(r, default=str, sort_keys=True) for r in rows.to_dict(orient="records")],
            "_reasons": reasons.values,
            "_stage": "ingest",
        }
    )
    unparsed_out = pd.DataFrame(
        {
            "_origin": origin,
            "_row": [line for line, _, _ in unparsed],
            "_record": [text for _, text, _ in unparsed],
            "_reasons": [reason for _, _, reason in unparsed],
            "_stage": "ingest",
        }
    )
    frames = [f for f in (typed_out, unparsed_out) if len(f)]
    if not frames:
        return typed_out
    return pd.concat(frames, ignore_index=True).astype({"_row": "int64"})
