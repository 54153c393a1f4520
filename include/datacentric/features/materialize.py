"""Materialization of the online store: time windows planned from data intervals, written a chunk at
a time so memory stays bounded however large the window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import FeatureStoreError
from datacentric.features.feast_repo import error_hint, feast_quiet, open_store, registered_view
from datacentric.features.tables import features_of
from datacentric.manifest.model import LoadedManifest
from datacentric.times import plain_utc

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 100_000


def materialize(
    feature_repo: Path,
    start: datetime,
    end: datetime,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    views: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Load the latest row per entity with timestamp in [start, end) into the online store.

    Naive datetimes are taken as UTC. The window is half-open, so consecutive windows (Airflow data
    intervals) neither overlap nor leave gaps. Feast's own materialization loads a whole window into
    memory and turns every row into protobuf objects; here the offline table is read `chunk_rows` rows
    at a time (row groups outside the window are skipped by their statistics), each chunk is reduced
    to its latest row per entity and handed, as Arrow columns, to the online store's `write_arrow`.
    Memory stays bounded by the chunk size however many rows the window holds. The stores keep the
    newest value per entity, so chunk order, re-runs and backfills of old windows never move an
    entity back in time. Each window is recorded in the registry, as `feast materialize` records it.

    Returns, per feature view: start, end (ISO), rows (offline rows in the window), written (entity
    rows written; an entity whose rows fall in several chunks counts once per chunk, one older than
    the stored value not at all), chunks, row_groups_read and row_groups.
    """
    feature_repo = Path(feature_repo)
    start, end = _utc(start, "start"), _utc(end, "end")
    if start >= end:
        raise FeatureStoreError(f"materialize: empty window [{start.isoformat()}, {end.isoformat()})")
    store = open_store(feature_repo)
    with feast_quiet("materialize"):
        fvs = views_to_materialize(store, feature_repo, views)
        return _materialize_windows(store, feature_repo, fvs, {fv.name: (start, end) for fv in fvs}, chunk_rows)


def materialize_interval(
    feature_repo: Path,
    interval_start: datetime,
    interval_end: datetime,
    *,
    overlap: timedelta = timedelta(0),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    views: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Materialize what a run's data interval needs: per feature view the window of
    `materialization_window` (the interval, reaching back `overlap` for late rows, back to the last
    materialized end after a gap, back one ttl the first time)."""
    feature_repo = Path(feature_repo)
    interval_start, interval_end = _utc(interval_start, "interval_start"), _utc(interval_end, "interval_end")
    store = open_store(feature_repo)
    with feast_quiet("materialize"):
        fvs = views_to_materialize(store, feature_repo, views)
        windows = {
            fv.name: materialization_window(
                interval_start, interval_end, overlap=overlap, ttl=fv.ttl,
                done=materialized(fv),
            )
            for fv in fvs
        }
        return _materialize_windows(store, feature_repo, fvs, windows, chunk_rows)


def materialize_run(
    loaded: LoadedManifest,
    feature_repo: Path,
    interval_start: datetime,
    interval_end: datetime,
    *,
    start: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """The materialization a run asks for, with the manifest's plan (chunk size, overlap for late
    rows): the explicit window [start, interval_end) when `start` is given, else the run's data
    interval as `materialize_interval` plans it. A run without an interval (start == end) reaches
    back from its end."""
    plan = features_of(loaded.spec).materialization
    if start is not None:
        return materialize(feature_repo, start, interval_end, chunk_rows=plan.chunk_rows)
    interval_start = interval_start if interval_start < interval_end else interval_end
    return materialize_interval(feature_repo, interval_start, interval_end, chunk_rows=plan.chunk_rows,
                                overlap=timedelta(hours=plan.overlap_hours))


def materialization_window(
    interval_start: datetime,
    interval_end: datetime,
    *,
    overlap: timedelta,
    done: list[tuple[datetime, datetime]],
    ttl: timedelta | None,
) -> tuple[datetime, datetime]:
    """The window [start, end) one run materializes for a feature view.

    end is the end of the data interval. start reaches `overlap` before the interval's start, so rows
    that arrived late for the previous interval(s) are picked up. If the view has never been
    materialized (`done` empty: a new view or a fresh online store), start goes back one ttl (all rows
    when there is no ttl), so every live entity gets its value. If the last materialized end lies
    before that start (runs were skipped), start goes back to it, so no rows are left out. A manual run
    without a data interval passes its run_after as both ends: the window is the overlap before it.
    """
    interval_start, interval_end = _utc(interval_start, "interval_start"), _utc(interval_end, "interval_end")
    start = interval_start - overlap
    if interval_end <= start:
        start = interval_end - max(overlap, timedelta(microseconds=1))
    if not done:
        earliest = interval_end - ttl if ttl else datetime(1, 1, 1, tzinfo=UTC)
        return min(start, earliest), interval_end
    latest_end = max(_utc(e, "materialized end") for _, e in done)
    return min(start, latest_end), interval_end


def views_to_materialize(store, feature_repo: Path, names: list[str] | None) -> list:
    fvs = store.list_feature_views()
    if not fvs:
        raise FeatureStoreError(f"materialize: no feature views registered in {feature_repo}; run apply first")
    if names is None:
        return sorted(fvs, key=lambda fv: fv.name)
    return [registered_view(store, name) for name in names]


def _materialize_windows(store, feature_repo: Path, fvs: list, windows: dict[str, tuple[datetime, datetime]],
                         chunk_rows: int) -> dict[str, dict[str, Any]]:
    from feast.infra.online_stores.helpers import get_online_store_from_config

    if chunk_rows < 1:
        raise FeatureStoreError(f"materialize: chunk_rows must be at least 1, got {chunk_rows}")
    online = get_online_store_from_config(store.config.online_store)
    columnar = callable(getattr(online, "write_arrow", None))
    results: dict[str, dict[str, Any]] = {}
    try:
        for fv in fvs:
            start, end = windows[fv.name]
            where = f"materialize {fv.name!r} of {feature_repo} over [{start.isoformat()}, {end.isoformat()})"
            try:
                if columnar:
                    stats = _write_view(store.config, online, fv, start, end, chunk_rows)
                    store.registry.apply_materialization(fv, store.project, start, end)
                else:
                    # Another online store configured by hand: Feast's own path (whole window in memory).
                    stats = _write_view(store.config, None, fv, start, end, chunk_rows)
                    store.materialize(start_date=start, end_date=end - timedelta(microseconds=1),
                                      feature_views=[fv.name])
            except FeatureStoreError as exc:
                raise FeatureStoreError(f"{where}: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - Feast and the store clients raise many types
                raise FeatureStoreError(f"{where}: {exc}{error_hint(exc)}") from exc
            results[fv.name] = stats
            log.info(
                "materialized %s over [%s, %s): %d offline rows in %d chunks (%d of %d row groups read), "
                "%d entity rows written",
                fv.name, stats["start"], stats["end"], stats["rows"], stats["chunks"], stats["row_groups_read"],
                stats["row_groups"], stats["written"],
            )
    finally:
        disconnect = getattr(online, "disconnect", None)
        if callable(disconnect):
            disconnect()
    return dict(sorted(results.items()))


def _write_view(config, online, fv, start: datetime, end: datetime, chunk_rows: int) -> dict[str, Any]:
    """Stream the window of one view's offline table into `online` (None: only count the rows)."""
    keys, timestamp, names = view_columns(fv)
    table = OfflineTable(fv, config.repo_path)
    rows = written = chunks = 0
    for batch in table.batches([*keys, timestamp, *names], start, end, chunk_rows):
        rows += batch.num_rows
        chunks += 1
        if online is not None:
            written += online.write_arrow(config, fv, _latest_per_entity(batch, keys, timestamp))
    return {"start": start.isoformat(), "end": end.isoformat(), "rows": rows, "written": written,
            "chunks": chunks, "row_groups_read": table.row_groups_read, "row_groups": table.row_groups}


class OfflineTable:
    """A view's offline Parquet table, read a chunk at a time over a time window.

    A relative source path is relative to the feature repository (`repo_path`), as Feast reads it."""

    def __init__(self, fv, repo_path: Path | str | None) -> None:
        import pyarrow.parquet as pq
        from feast import FileSource

        self.view = fv.name
        self.path = Path(FileSource.get_uri_for_file_path(repo_path, fv.batch_source.path))
        self.timestamp = fv.batch_source.timestamp_field
        if not self.path.is_file():
            raise FeatureStoreError(
                f"offline table {self.path} of feature view {fv.name!r} does not exist; run export_feature_tables first"
            )
        try:
            # Without pre-buffering: a pre-buffered reader keeps every row group it has read until
            # the iteration ends, which makes memory grow with the window.
            self.file = pq.ParquetFile(self.path, pre_buffer=False)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
            raise FeatureStoreError(
                f"offline table {self.path} of feature view {fv.name!r} is not readable Parquet: {exc}"
            ) from exc
        self.row_groups = self.file.num_row_groups
        self.row_groups_read = 0

    def batches(self, columns: list[str], start: datetime, end: datetime, chunk_rows: int) -> Iterator[Any]:
        """Record batches of at most `chunk_rows` rows with timestamp in [start, end), in file order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = self.file.schema_arrow
        missing = [c for c in columns if schema.get_field_index(c) < 0]
        if missing:
            raise FeatureStoreError(
                f"offline table {self.path} of feature view {self.view!r} lacks column(s) {', '.join(missing)}"
            )
        kind = schema.field(self.timestamp).type
        if not pa.types.is_timestamp(kind):
            raise FeatureStoreError(f"offline table {self.path}: column {self.timestamp!r} is {kind}, not a timestamp")
        groups = [i for i in range(self.row_groups) if self._may_overlap(i, start, end)]
        self.row_groups_read += len(groups)
        if not groups:
            return
        bounds = [start, end] if kind.tz else [start.replace(tzinfo=None), end.replace(tzinfo=None)]
        low, high = (pa.scalar(b, type=pa.timestamp("us", tz=kind.tz)).cast(kind) for b in bounds)
        for batch in self.file.iter_batches(batch_size=chunk_rows, row_groups=groups, columns=columns):
            stamps = batch.column(self.timestamp)
            inside = pc.and_(pc.greater_equal(stamps, low), pc.less(stamps, high))
            batch = batch.filter(pc.fill_null(inside, False))
            if batch.num_rows:
                yield batch

    def _may_overlap(self, group: int, start: datetime, end: datetime) -> bool:
        meta = self.file.metadata.row_group(group)
        for j in range(meta.num_columns):
            column = meta.column(j)
            if column.path_in_schema != self.timestamp:
                continue
            stats = column.statistics
            if stats is None or not stats.has_min_max:
                return True
            try:
                low, high = utc_timestamp(stats.min), utc_timestamp(stats.max)
            except (TypeError, ValueError):
                return True
            return low < pd.Timestamp(end) and high >= pd.Timestamp(start)
        return True


def utc_timestamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _latest_per_entity(batch, keys: list[str], timestamp: str):
    """The latest row of each entity in a batch (of equal times, the later row in file order)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([batch])
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys] + [(timestamp, "ascending")])
    table = table.take(order).combine_chunks()
    n = table.num_rows
    if n <= 1:
        return table
    last = np.ones(n, dtype=bool)
    differs = np.zeros(n - 1, dtype=bool)
    for key in keys:
        column = table.column(key).chunk(0) if table.column(key).num_chunks == 1 else table.column(key).combine_chunks()
        differs |= pc.not_equal(column.slice(1), column.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    last[:-1] = differs
    return table.filter(pa.array(last))


def view_columns(fv) -> tuple[list[str], str, list[str]]:
    return [c.name for c in fv.entity_columns], fv.batch_source.timestamp_field, [f.name for f in fv.features]


def materialized(fv) -> list[tuple[datetime, datetime]]:
    """The windows recorded in the registry for a view, as UTC datetimes."""
    return [(_utc(s, "materialized start"), _utc(e, "materialized end")) for s, e in fv.materialization_intervals]


def _utc(value: datetime, name: str) -> datetime:
    """A plain UTC datetime (naive values are UTC). Subclasses such as pendulum's DateTime, which
    Airflow passes, are converted: their arithmetic can drop the time zone."""
    if not isinstance(value, datetime):
        raise FeatureStoreError(f"materialize: {name} must be a datetime, got {value!r}")
    return plain_utc(value)
