"""Offline feature tables: one Parquet table per feature view in the repository's features zone.

Each holds the join key, the event timestamp (UTC) and the feature columns of the source's validated
rows, typed as the manifest says, byte-stable for identical input.
"""

from __future__ import annotations

import json
import logging

import pandas as pd

from datacentric.errors import DataCentricError, FeatureStoreError, MissingDefinitionError
from datacentric.manifest.model import Features, Manifest
from datacentric.repository.store import DataRepository, Published
from datacentric.validation.suite import REASONS_COLUMN

log = logging.getLogger(__name__)


FEATURES_ZONE = "features"
TABLE_NAME = "data.parquet"


# Rows per Parquet row group of an offline table: the unit materialization reads or skips.
ROW_GROUP_ROWS = 65_536


# The entity dataframe column Feast uses for point-in-time joins.
EVENT_TIMESTAMP = "event_timestamp"
_PANDAS_DTYPE = {
    "int": "Int64",
    "float": "float64",
    "str": "object",
    "bool": "boolean",
    "timestamp": "datetime64[ns, UTC]",
    "date": "datetime64[ns, UTC]",
}


def export_feature_tables(
    manifest: Manifest, repo: DataRepository, *, run_id: str | None = None
) -> dict[str, Published]:
    """Publish one offline table per feature view to `features/<view>/data.parquet`.

    Each table holds the join key, the timestamp (UTC) and the feature columns of the view's source
    (all validated rows), cast to the manifest's types. Rows without a key or a timestamp cannot be
    features and are left out; of several rows with the same (key, timestamp) one is kept, chosen by
    content so the result does not depend on file order. Timestamps are floored to microseconds (what
    Feast's online stores and Python datetimes hold), which also makes materialization windows exact.
    Rows are sorted by (timestamp, key): identical input gives identical bytes, and publishing
    identical bytes is a no-op (`changed=False`).
    """
    features = features_of(manifest)
    published: dict[str, Published] = {}
    for name, view in features.feature_views.items():
        frame, left_out, counts = split_feature_rows(manifest, name, _read_validated(repo, name, view.source))
        _quarantine_left_out(repo, name, view.source, left_out, run_id)
        if counts["conflicting_duplicates"]:
            log.warning(
                "feature view %r: %d (%s, %s) pairs of source %r have rows with different feature values; "
                "kept one per pair (chosen by content)",
                name,
                counts["conflicting_duplicates"],
                features.entities[view.entity].join_key,
                view.timestamp,
                view.source,
            )
        published[name] = repo.publish_bytes(
            FEATURES_ZONE,
            f"{name}/{TABLE_NAME}",
            feature_table_bytes(frame),
            rows=len(frame),
            run_id=run_id,
            provenance={
                "stage": "features",
                "manifest": manifest.name,
                "feature_view": name,
                "source": view.source,
                "inputs": f"validated/{view.source}",
                **counts,
            },
        )
    return published


def build_feature_table(manifest: Manifest, view_name: str, validated: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The offline table of one feature view from its source's validated rows, with row counts.

    counts: rows_in, rows_out, rows_without_key_or_timestamp, duplicates_dropped (rows sharing a
    (key, timestamp) with a kept row) and conflicting_duplicates (such pairs whose features differ).
    """
    frame, _, counts = split_feature_rows(manifest, view_name, validated)
    return frame, counts


def split_feature_rows(
    manifest: Manifest, view_name: str, validated: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """`build_feature_table`, and the rows it leaves out for want of a join key or a timestamp, each
    with its reason in `_reasons` (a JSON list, as in every quarantine file)."""
    features = features_of(manifest)
    view = _view(features, view_name)
    source = manifest.sources[view.source]
    key = features.entities[view.entity].join_key
    check_view_columns(view_name, key, view.timestamp, view.features)
    columns = [key, view.timestamp, *view.features]
    missing = [c for c in columns if c not in validated.columns]
    if missing:
        raise FeatureStoreError(
            f"feature view {view_name!r}: validated rows of source {view.source!r} lack column(s) "
            f"{', '.join(missing)} (they have: {', '.join(map(str, validated.columns))})"
        )
    frame = validated[columns].copy()
    for column in columns:
        frame[column] = _cast(frame[column], source.columns[column].type, view_name, column)
    frame[view.timestamp] = frame[view.timestamp].dt.floor("us")

    rows_in = len(frame)
    usable = frame[key].notna() & frame[view.timestamp].notna()
    left_out = frame[~usable].reset_index(drop=True)
    left_out[REASONS_COLUMN] = [
        json.dumps([f"no join key {key}"] * bool(no_key) + [f"no timestamp {view.timestamp}"] * bool(no_time))
        for no_key, no_time in zip(left_out[key].isna(), left_out[view.timestamp].isna(), strict=True)
    ]
    frame = frame[usable]
    without_key = rows_in - len(frame)
    if source.columns[key].type == "int":
        frame[key] = frame[key].astype("int64")  # no nulls left: a plain key type joins without casts in Feast

    # Content order (timestamp, key, then features) makes the choice among duplicates independent of
    # how the validated rows happen to be split into files.
    frame = frame.sort_values(columns[1:2] + columns[:1] + columns[2:], kind="mergesort", na_position="first")
    pair = [key, view.timestamp]
    distinct = frame.drop_duplicates(columns)
    conflicting = len(distinct[distinct.duplicated(pair, keep=False)][pair].drop_duplicates())
    before = len(frame)
    frame = frame.drop_duplicates(pair, keep="last").reset_index(drop=True)
    counts = {
        "rows_in": rows_in,
        "rows_out": len(frame),
        "rows_without_key_or_timestamp": without_key,
        "duplicates_dropped": before - len(frame),
        "conflicting_duplicates": conflicting,
    }
    return frame, left_out, counts


def _quarantine_left_out(repo: DataRepository, view: str, source: str, left_out: pd.DataFrame,
                         run_id: str | None) -> None:
    """Rows of `source` that cannot be features of `view` go to quarantine/<source>/features/<view>.parquet."""
    relpath = f"{source}/features/{view}.parquet"
    if len(left_out):
        log.warning("feature view %r: %d row(s) of source %r have no join key or no timestamp; quarantined in "
                    "quarantine/%s", view, len(left_out), source, relpath)
        repo.publish_frame("quarantine", relpath, left_out, run_id=run_id,
                           provenance={"stage": "features", "feature_view": view, "source": source})
    elif repo.path("quarantine", relpath).exists():
        repo.remove("quarantine", relpath, reason="every row now has a join key and a timestamp", run_id=run_id)


def feature_table_bytes(frame: pd.DataFrame) -> bytes:
    """A feature table as Parquet in row groups of ROW_GROUP_ROWS rows.

    Rows are in timestamp order, so each row group covers a time range and its min/max statistics
    let materialization skip every row group outside its window, and read the rest a chunk at a time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, row_group_size=ROW_GROUP_ROWS)
    return sink.getvalue().to_pybytes()


def _read_validated(repo: DataRepository, view_name: str, source: str) -> pd.DataFrame:
    try:
        return repo.read_frame("validated", source)
    except DataCentricError as exc:
        raise FeatureStoreError(
            f"feature view {view_name!r}: no validated rows of source {source!r} to export ({exc}); "
            f"run ingestion and validation of {source!r} first"
        ) from exc


def _cast(series: pd.Series, kind: str, view: str, column: str) -> pd.Series:
    try:
        if kind in ("timestamp", "date"):
            try:
                return utc_series(series, column)  # naive times are taken as UTC
            except FeatureStoreError as exc:
                raise FeatureStoreError(f"feature view {view!r}: {exc}") from exc
        if kind == "str":
            return object_with_none(series)
        return series.astype(_PANDAS_DTYPE[kind])
    except (TypeError, ValueError) as exc:
        raise FeatureStoreError(
            f"feature view {view!r}: column {column!r} cannot be read as {kind} ({exc})"
        ) from exc


def features_of(manifest: Manifest) -> Features:
    if manifest.features is None:
        raise MissingDefinitionError(f"manifest {manifest.name!r} has no 'features' block")
    return manifest.features


def _view(features: Features, name: str):
    try:
        return features.feature_views[name]
    except KeyError:
        raise FeatureStoreError(
            f"unknown feature view {name!r}; the manifest has: {', '.join(features.feature_views)}"
        ) from None


def check_view_columns(view: str, key: str, timestamp: str, features: list[str]) -> None:
    clash = [f for f in features if f in (key, timestamp)]
    if clash:
        raise FeatureStoreError(
            f"features.feature_views.{view}: {', '.join(clash)} is the join key or the timestamp, not a feature"
        )
    if len(set(features)) != len(features):
        raise FeatureStoreError(f"features.feature_views.{view}: features are listed twice")


def object_with_none(series: pd.Series) -> pd.Series:
    """Object dtype with None for every null (pandas' where/mask turn None back into NaN)."""
    return pd.Series([None if pd.isna(v) else v for v in series], index=series.index, dtype=object, name=series.name)


def utc_series(series: pd.Series, name: str) -> pd.Series:
    """Timestamps as datetime64[ns, UTC]; naive ones are taken as UTC."""
    try:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            out = series.dt.tz_localize("UTC")
        else:
            out = pd.to_datetime(series, utc=True)
        return out.astype("datetime64[ns, UTC]")
    except (TypeError, ValueError) as exc:
        raise FeatureStoreError(f"column {name!r} is not a timestamp ({exc})") from exc
