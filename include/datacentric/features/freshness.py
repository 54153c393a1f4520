"""The freshness check: sampled entities' online values against the latest offline rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import FeatureStoreError
from datacentric.features.feast_repo import feast_quiet, open_store
from datacentric.features.materialize import (
    DEFAULT_CHUNK_ROWS,
    OfflineTable,
    materialized,
    utc_timestamp,
    view_columns,
    views_to_materialize,
)
from datacentric.features.retrieval import python_value, read_online, typed_like_view
from datacentric.features.tables import utc_series

log = logging.getLogger(__name__)


def check_freshness(
    feature_repo: Path,
    *,
    sample: int = 200,
    seed: int | None = None,
    views: list[str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    raise_on_mismatch: bool = True,
) -> dict[str, dict[str, Any]]:
    """Compare online values with the latest offline values for a sample of entities, per view.

    What the online store must hold follows from the registry's materialization record: for every
    entity with a row in the contiguous materialized span ending at the latest materialized end
    (`high_water`), the values of its latest row before `high_water`. Half of the sample comes from
    the entities of the last window (what the last run changed), half from the whole span. Values are
    read through Feast (`get_online_features`), so the check covers the read path too. Timestamp
    features are compared to the second (Feast stores them in seconds). `seed` picks the sample (by
    default derived from `high_water`, so a re-run checks the same entities).

    Raises FeatureStoreError naming the view, entities, features and both values on any mismatch
    (unless `raise_on_mismatch` is False); returns, per view: high_water, covered_from, checked,
    mismatches (count) and examples.
    """
    feature_repo = Path(feature_repo)
    store = open_store(feature_repo)
    with feast_quiet("freshness"):
        fvs = views_to_materialize(store, feature_repo, views)
    reports: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for fv in fvs:
        intervals = materialized(fv)
        if not intervals:
            raise FeatureStoreError(
                f"freshness check: feature view {fv.name!r} was never materialized in {feature_repo}; "
                "run materialize first"
            )
        covered_from, last_start, high_water = _coverage(intervals)
        keys, timestamp, names = view_columns(fv)
        rng_seed = seed if seed is not None else int(high_water.timestamp())
        table = OfflineTable(fv, store.config.repo_path)
        sampled = _sample_entities(table, keys, timestamp, (covered_from, last_start, high_water), sample, rng_seed,
                                   chunk_rows)
        expected = _latest_offline_rows(table, keys, timestamp, names, sampled, covered_from, high_water, chunk_rows)
        examples: list[dict[str, Any]] = []
        if len(expected):
            online = read_online(feature_repo, fv.name, names, expected[keys].to_dict("records"))
            examples = _differences(fv, keys, timestamp, names, expected, online)
        reports[fv.name] = {
            "high_water": high_water.isoformat(),
            "covered_from": covered_from.isoformat(),
            "checked": len(expected),
            "mismatches": len({tuple(e["entity"].values()) for e in examples}),
            "examples": examples[:20],
        }
        log.info("freshness of %s: %d sampled entities checked against the offline rows before %s, %d differ",
                 fv.name, len(expected), high_water.isoformat(), reports[fv.name]["mismatches"])
        if examples:
            shown = "; ".join(
                f"{_entity_text(e['entity'])} {e['feature']}: online {e['online']!r}, offline {e['offline']!r} "
                f"(offline row at {e['offline_time']})"
                for e in examples[:5]
            )
            problems.append(
                f"feature view {fv.name!r}: {reports[fv.name]['mismatches']} of {len(expected)} sampled entities "
                f"differ from the latest offline rows before {high_water.isoformat()}: {shown}"
            )
    if problems and raise_on_mismatch:
        raise FeatureStoreError(f"freshness check of {feature_repo} failed: " + " | ".join(problems))
    return reports


def _coverage(intervals: list[tuple[datetime, datetime]]) -> tuple[datetime, datetime, datetime]:
    """(covered_from, start of the latest window, high_water) of recorded materialization windows."""
    high_water = max(e for _, e in intervals)
    last_start = [s for s, e in intervals if e == high_water][-1]
    covered_from = high_water
    slack = timedelta(milliseconds=1)  # windows recorded by Feast's own path end 1 µs early
    for s, e in sorted(intervals, key=lambda se: se[1], reverse=True):
        if e + slack >= covered_from:
            covered_from = min(covered_from, s)
    return covered_from, last_start, high_water


def _sample_entities(table: OfflineTable, keys: list[str], timestamp: str, span: tuple[datetime, datetime, datetime],
                     sample: int, seed: int, chunk_rows: int) -> pd.DataFrame:
    """Distinct entity keys, half from the latest window and half from the whole span (reservoirs:
    random priorities, the smallest kept, so memory is the sample plus one chunk)."""
    import numpy as np

    covered_from, last_start, high_water = span
    rng = np.random.default_rng(seed)
    recent_size = sample // 2
    overall_size = sample - recent_size
    overall = recent = pd.DataFrame(columns=[*keys, "__priority"])
    for batch in table.batches([*keys, timestamp], covered_from, high_water, chunk_rows):
        frame = batch.to_pandas()
        frame["__priority"] = rng.random(len(frame))
        overall = _smallest(overall, frame[[*keys, "__priority"]], overall_size, keys)
        is_recent = utc_series(frame[timestamp], timestamp) >= pd.Timestamp(last_start)
        recent = _smallest(recent, frame.loc[is_recent, [*keys, "__priority"]], recent_size, keys)
    both = pd.concat([recent, overall], ignore_index=True) if len(recent) else overall
    return both[keys].drop_duplicates().reset_index(drop=True)


def _smallest(kept: pd.DataFrame, new: pd.DataFrame, size: int, keys: list[str]) -> pd.DataFrame:
    if size <= 0 or not len(new):
        return kept
    new = new.nsmallest(size, "__priority")
    merged = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    return merged.sort_values("__priority", kind="mergesort").drop_duplicates(keys).head(size)


def _latest_offline_rows(table: OfflineTable, keys, timestamp, names, sampled, covered_from, high_water,
                         chunk_rows) -> pd.DataFrame:
    """The latest row before high_water of each sampled entity, one chunk at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    latest = pd.DataFrame()
    if not len(sampled):
        return pd.DataFrame(columns=[*keys, timestamp, *names])
    wanted = pa.array(sampled[keys[0]].tolist()) if len(keys) == 1 else None
    for batch in table.batches([*keys, timestamp, *names], covered_from, high_water, chunk_rows):
        if wanted is not None:
            key_type = batch.schema.field(keys[0]).type
            batch = batch.filter(pc.is_in(batch.column(keys[0]), value_set=wanted.cast(key_type)))
            frame = batch.to_pandas()
        else:
            frame = batch.to_pandas().merge(sampled, on=keys, how="inner")
        if not len(frame):
            continue
        latest = pd.concat([latest, frame], ignore_index=True) if len(latest) else frame
        latest = latest.sort_values(timestamp, kind="mergesort").drop_duplicates(keys, keep="last")
    if not len(latest):
        return pd.DataFrame(columns=[*keys, timestamp, *names])
    return latest.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _differences(fv, keys, timestamp, names, expected: pd.DataFrame, online: pd.DataFrame) -> list[dict[str, Any]]:
    offline = typed_like_view(expected, fv)
    found: list[dict[str, Any]] = []
    for i in range(len(offline)):
        for name in names:
            want, got = offline[name].iloc[i], online[name].iloc[i]
            if _same_value(want, got):
                continue
            found.append({
                "entity": {k: python_value(offline[k].iloc[i]) for k in keys},
                "feature": name,
                "online": None if _is_null(got) else python_value(got),
                "offline": None if _is_null(want) else python_value(want),
                "offline_time": pd.Timestamp(offline[timestamp].iloc[i]).isoformat(),
            })
    return found


def _same_value(want: Any, got: Any) -> bool:
    if _is_null(want) or _is_null(got):
        return _is_null(want) and _is_null(got)
    if isinstance(want, (pd.Timestamp, datetime)):
        return utc_timestamp(want).floor("s") == utc_timestamp(got).floor("s")
    return bool(want == got)


def _is_null(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _entity_text(entity: dict[str, Any]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in entity.items())
