"""Reads: online features of entities, and point-in-time correct historical features for training sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import FeatureStoreError
from datacentric.features.feast_repo import error_hint, feast_quiet, open_store, registered_view
from datacentric.features.point_in_time import ViewTable, point_in_time_features
from datacentric.features.tables import EVENT_TIMESTAMP, object_with_none, utc_series


def read_online(feature_repo: Path, view: str, features: list[str], entity_rows: list[dict]) -> pd.DataFrame:
    """Online values of `features` of `view` (all of them if empty) for each entity row, in row order.

    Columns: the join key then the features, typed like the validated rows (Int64, float64, object,
    boolean, datetime64[ns, UTC]); an entity the store has no value for gets nulls.
    """
    store = open_store(Path(feature_repo))
    with feast_quiet("read_online"):
        fv = registered_view(store, view)
        names = _check_features(fv, features)
        keys = [c.name for c in fv.entity_columns]
        rows = [{k: python_value(v) for k, v in row.items()} for row in entity_rows]
        for i, row in enumerate(rows):
            absent = [k for k in keys if k not in row]
            if absent:
                raise FeatureStoreError(f"read_online {view!r}: entity row {i} lacks {', '.join(absent)}: {row}")
        if not rows:
            return typed_like_view(pd.DataFrame({c: [] for c in keys + names}), fv)
        try:
            frame = store.get_online_features(
                features=[f"{view}:{name}" for name in names], entity_rows=rows
            ).to_df()
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"online read of {view!r} from {feature_repo}: {exc}{error_hint(exc)}") from exc
    return typed_like_view(frame[keys + names], fv)


def training_set(feature_repo: Path, entity_df: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Point-in-time correct features for each row of `entity_df`, the answer Feast's
    get_historical_features defines.

    `entity_df` holds the join keys of the requested views and an event time: a column named
    `event_timestamp`, or its only datetime column (naive times are UTC). `features` are references
    "view:feature". For each row, each feature is taken from the latest row of its view with
    timestamp <= the event time and no older than the view's ttl, else null: nothing from the future.
    Each view is judged on its own (Feast's file offline store drops a row altogether when one view
    has nothing fresh for it). The views and their offline tables come from the Feast registry; the
    join runs in DuckDB over the tables (`datacentric.features.point_in_time`), one pass per view
    rather than Feast's join of every entity row with every row of its entity.
    The result keeps every row, column, the order and the index of `entity_df`, with the features added.
    """
    store = open_store(Path(feature_repo))
    with feast_quiet("training_set"):
        if not features:
            raise FeatureStoreError("training_set: no features requested; give references 'view:feature'")
        by_view: dict[str, list[str]] = {}
        for ref in features:
            view, sep, name = ref.partition(":")
            if not sep or not view or not name:
                raise FeatureStoreError(f"training_set: feature reference {ref!r} must be 'view:feature'")
            by_view.setdefault(view, []).append(name)
        views = {name: registered_view(store, name) for name in by_view}
        for name, fv in views.items():
            _check_features(fv, by_view[name])
        keys = list(dict.fromkeys(c.name for fv in views.values() for c in fv.entity_columns))
        ts = _event_time_column(entity_df)
        names = [ref.partition(":")[2] for ref in features]
        clash = sorted(set(names) & set(map(str, entity_df.columns)))
        if clash or len(set(names)) != len(names):
            raise FeatureStoreError(
                f"training_set: feature name(s) {', '.join(clash) or 'requested twice'} would overwrite or repeat "
                "a column of the result"
            )
        absent = [k for k in keys if k not in entity_df.columns]
        if absent:
            raise FeatureStoreError(
                f"training_set: entity_df lacks join key column(s) {', '.join(absent)} "
                f"(it has: {', '.join(map(str, entity_df.columns))})"
            )
        lookup = entity_df[keys].copy()
        for key in keys:
            if pd.api.types.is_integer_dtype(lookup[key].dtype) and lookup[key].notna().all():
                lookup[key] = lookup[key].astype("int64")
        lookup[EVENT_TIMESTAMP] = utc_series(entity_df[ts], ts)
        bad = lookup.isna().any(axis=1)
        if bad.any():
            raise FeatureStoreError(
                f"training_set: entity_df row(s) at {list(entity_df.index[bad][:5])} have a null join key or event time"
            )
        tables = [_view_table(store, fv, by_view[name]) for name, fv in views.items()]
    joined = point_in_time_features(lookup.reset_index(drop=True), EVENT_TIMESTAMP, tables)
    for fv in views.values():
        joined = typed_like_view(joined, fv)
    out = entity_df.copy()
    for name in names:
        out[name] = joined[name].set_axis(out.index)
    return out


def _view_table(store, fv, names: list[str]) -> ViewTable:
    """The offline table of a registered view: its FileSource's Parquet file (relative paths are
    relative to the feature repository, as Feast resolves them)."""
    source = fv.batch_source
    path = getattr(source, "path", None)
    if not path or "://" in str(path):
        raise FeatureStoreError(
            f"feature view {fv.name!r}: its batch source {source.name!r} is not a local Parquet file ({path!r})"
        )
    path = Path(path)
    if not path.is_absolute():
        path = Path(store.repo_path) / path
    ttl = fv.ttl if fv.ttl and fv.ttl.total_seconds() > 0 else None
    return ViewTable(name=fv.name, path=path.resolve(), keys=[c.name for c in fv.entity_columns],
                     timestamp=source.timestamp_field, features=list(names), ttl=ttl)


def _check_features(fv, requested: list[str]) -> list[str]:
    available = [f.name for f in fv.features]
    if not requested:
        return available
    unknown = [f for f in requested if f not in available]
    if unknown:
        raise FeatureStoreError(
            f"feature view {fv.name!r} has no feature(s) {', '.join(unknown)} (it has: {', '.join(available)})"
        )
    return list(requested)


def typed_like_view(frame: pd.DataFrame, fv) -> pd.DataFrame:
    """Cast the feature columns of `fv` present in `frame` to the pandas dtypes of the validated zone."""
    from feast import types as ft

    dtypes = {
        ft.Int64: "Int64",
        ft.Int32: "Int64",
        ft.Float64: "float64",
        ft.Float32: "float64",
        ft.Bool: "boolean",
        ft.String: "object",
        ft.UnixTimestamp: "datetime64[ns, UTC]",
    }
    frame = frame.copy()
    for field in fv.features:
        dtype = dtypes.get(field.dtype)
        if field.name not in frame.columns or dtype is None:
            continue
        column = frame[field.name]
        if dtype == "datetime64[ns, UTC]":
            frame[field.name] = utc_series(column, field.name)
        elif dtype == "object":
            frame[field.name] = object_with_none(column)
        else:
            frame[field.name] = column.astype(dtype)
    return frame


def _event_time_column(entity_df: pd.DataFrame) -> str:
    if EVENT_TIMESTAMP in entity_df.columns:
        return EVENT_TIMESTAMP
    candidates = [c for c in entity_df.columns if pd.api.types.is_datetime64_any_dtype(entity_df[c].dtype)]
    if len(candidates) != 1:
        raise FeatureStoreError(
            f"training_set: entity_df needs a column {EVENT_TIMESTAMP!r} or exactly one datetime column "
            f"(datetime columns: {', '.join(map(str, candidates)) or 'none'})"
        )
    return candidates[0]


def python_value(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value
