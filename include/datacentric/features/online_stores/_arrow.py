"""Arrow helpers shared by the online stores: batch shape, a view's columns, Feast's proto conversion."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
from feast.feature_view import FeatureView


def record_batch(data: pa.Table | pa.RecordBatch) -> pa.RecordBatch:
    """One RecordBatch with contiguous columns (Feast's converter reads only a table's first batch)."""
    if isinstance(data, pa.RecordBatch):
        return data
    data = data.combine_chunks()
    batches = data.to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=data.schema)
    return batches[0]


def feature_columns(view: FeatureView) -> tuple[list[str], list[str], list[int], str]:
    """(join keys, feature names, the join keys' ValueType numbers, the timestamp field) of a view."""
    keys = [c.name for c in view.entity_columns]
    value_types = [c.dtype.to_value_type().value for c in view.entity_columns]
    names = [f.name for f in view.features]
    if view.batch_source is None:
        raise ValueError(f"feature view {view.name!r} has no batch source")
    return keys, names, value_types, view.batch_source.timestamp_field


def to_protos(batch: pa.RecordBatch, view: FeatureView) -> list[tuple[Any, dict, datetime, datetime | None]]:
    """Feast's own conversion of rows to (EntityKey, {feature: Value}, event time, created time)."""
    from feast.utils import _convert_arrow_to_proto

    join_keys = {c.name: c.dtype.to_value_type() for c in view.entity_columns}
    return _convert_arrow_to_proto(batch, view, join_keys)
