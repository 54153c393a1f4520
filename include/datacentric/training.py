"""Training sets: consolidated labels joined, point in time, with the features of their entities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import FeatureStoreError
from datacentric.manifest import LoadedManifest
from datacentric.repository import DataRepository


def label_entities(loaded: LoadedManifest, repo: DataRepository) -> tuple[pd.DataFrame, list[str]]:
    """One row per consolidated label with the item's entity keys and its event time as
    `event_timestamp`; and the feature references (view:feature) those keys can look up."""
    spec = loaded.spec
    task, features = spec.label_task, spec.features
    if task is None or features is None:
        raise FeatureStoreError(f"{loaded.path}: a training set needs both label_task and features")
    source = spec.sources[task.source]
    if source.event_time is None:
        raise FeatureStoreError(f"source {task.source!r} needs event_time for point-in-time training sets")
    files = repo.files("labels", task.name, "consolidated")
    if not files:
        raise FeatureStoreError(f"no consolidated labels for task {task.name!r} yet")
    labels = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    views = {name: v for name, v in features.feature_views.items()
             if features.entities[v.entity].join_key in source.columns}
    keys = sorted({features.entities[v.entity].join_key for v in views.values()})
    items = repo.read_frame("validated", task.source)[[task.item_key, source.event_time, *keys]]
    items = items.assign(**{task.item_key: items[task.item_key].astype(str)})
    frame = labels.merge(items, left_on="task", right_on=task.item_key, how="inner")
    frame = frame.rename(columns={source.event_time: "event_timestamp"})
    frame = frame[["task", "label", "confidence", "job_name", "event_timestamp", *keys]]
    refs = [f"{name}:{feature}" for name, view in views.items() for feature in view.features]
    return frame.sort_values("task").reset_index(drop=True), refs


def export_training_set(
    loaded: LoadedManifest, repo: DataRepository, feature_repo: Path, *, name: str, run_id: str
) -> dict[str, Any]:
    from datacentric.features import training_set

    entity_df, refs = label_entities(loaded, repo)
    frame = training_set(feature_repo, entity_df, refs)
    frame = frame.sort_values("task").reset_index(drop=True)
    task = loaded.spec.label_task
    assert task is not None
    published = repo.publish_frame(
        "training_sets", f"{task.name}/{name}.parquet", frame, run_id=run_id,
        provenance={"stage": "training_set", "task": task.name, "features": refs,
                    "labels": [repo.relative(p) for p in repo.files("labels", task.name, "consolidated")]},
    )
    return {"path": published.path, "rows": len(frame), "features": refs, "sha256": published.sha256}
