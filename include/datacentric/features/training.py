"""Training sets: consolidated labels joined, point in time, with the features of their entities.

`export_training_set` writes `training_sets/<task>/<name>.parquet` and beside it `<name>.json`, the
training set's recipe: the manifest text it was built with, the feature references, the offline
store, and the sha256 of every input (consolidated labels, the label task's validated rows, the
offline feature tables) and of the result. Both are snapshotted with the rest of the repository, so
a data state id pins the training set together with everything needed to build it again.

`rebuild_training_set` does that: it restores a data state into a workspace
(`datacentric.versioning.versioner.Versioner.restore`), checks the recorded inputs against the restored files,
recomputes the feature tables and the point-in-time join from the restored zones with the recorded
manifest, and compares the rebuilt bytes with the recorded and the restored training set.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import FeatureStoreError
from datacentric.hashing import sha256_bytes, sha256_file, sha256_text
from datacentric.manifest import parse_manifest
from datacentric.manifest.model import LoadedManifest
from datacentric.parquet import frame_to_parquet_bytes
from datacentric.repository.store import DataRepository

log = logging.getLogger(__name__)

ZONE = "training_sets"
RECIPE_FORMAT = 1


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
    from datacentric.labeling.selection import current_labels

    # The newest label of each item: a relabel round supersedes the item's earlier labels.
    labels = current_labels(repo, task.name)
    if labels.empty:
        raise FeatureStoreError(f"no consolidated labels for task {task.name!r} yet")
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


def build_training_frame(
    loaded: LoadedManifest, repo: DataRepository, feature_repo: Path
) -> tuple[pd.DataFrame, list[str]]:
    """The training set of the label task (sorted by item) and its feature references."""
    from datacentric.features import training_set

    entity_df, refs = label_entities(loaded, repo)
    frame = training_set(feature_repo, entity_df, refs)
    return frame.sort_values("task", kind="mergesort").reset_index(drop=True), refs


def export_training_set(
    loaded: LoadedManifest, repo: DataRepository, feature_repo: Path, *, name: str, run_id: str
) -> dict[str, Any]:
    """Build the training set and publish it with its recipe (see the module docstring).

    Publishing identical bytes is a no-op, so re-running an interval changes nothing. Returns path,
    rows, features, sha256 and recipe (the recipe's path).
    """
    frame, refs = build_training_frame(loaded, repo, feature_repo)
    task = loaded.spec.label_task
    assert task is not None
    labels = [repo.relative(p) for p in repo.files("labels", task.name, "consolidated")]
    published = repo.publish_frame(
        ZONE, f"{task.name}/{name}.parquet", frame, run_id=run_id,
        provenance={"stage": "training_set", "task": task.name, "features": refs, "labels": labels},
    )
    recipe = training_recipe(loaded, repo, refs, published.path, published.sha256, len(frame))
    recipe_file = repo.publish_bytes(
        ZONE, f"{task.name}/{name}.json", _json_bytes(recipe), run_id=run_id,
        provenance={"stage": "training_set", "task": task.name, "recipe_of": published.path},
    )
    return {"path": published.path, "rows": len(frame), "features": refs, "sha256": published.sha256,
            "recipe": recipe_file.path}


def training_recipe(
    loaded: LoadedManifest, repo: DataRepository, refs: list[str], path: str, sha256: str, rows: int
) -> dict[str, Any]:
    """What a training set was built from, with the sha256 of every input; byte-stable for equal inputs."""
    spec = loaded.spec
    task, features = spec.label_task, spec.features
    assert task is not None and features is not None
    try:
        text = Path(loaded.path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FeatureStoreError(
            f"{loaded.path}: cannot read the manifest to record it with the training set: {exc}"
        ) from exc
    if sha256_text(text) != loaded.sha256:
        raise FeatureStoreError(f"{loaded.path}: the manifest changed on disk while the training set was built")
    views = sorted({ref.partition(":")[0] for ref in refs})
    inputs: dict[str, str] = {}
    for file in [*repo.files("labels", task.name, "consolidated"), *repo.files("validated", task.source),
                 *(repo.path("features", view, "data.parquet") for view in views)]:
        inputs[repo.relative(file)] = sha256_file(file)
    return {
        "format": RECIPE_FORMAT,
        "training_set": {"path": path, "sha256": sha256, "rows": rows},
        "task": task.name,
        "features": refs,
        "feature_views": views,
        "offline_store": features.offline_store,
        "point_in_time": "each feature from the latest row of its view at or before the item's event time, "
                         "no older than the view's ttl; else null",
        "manifest": {"name": spec.name, "sha256": loaded.sha256, "text": text},
        "inputs": dict(sorted(inputs.items())),
    }


def rebuild_training_set(
    repository: Path | str,
    ref: str,
    workspace: Path | str,
    *,
    remote: str | None = None,
    training_set: str | None = None,
) -> dict[str, Any]:
    """Rebuild the training set of a data state (id, tag or date) and compare it with the recorded one.

    The state is restored into `workspace/repository` (an empty or absent folder). The training set
    rebuilt is `training_set` (a path under training_sets/, e.g. "review_sentiment/20261031T000000Z")
    or, by default, the last one written before the snapshot. The recorded inputs are checked against
    the restored files; the feature tables are recomputed from the restored validated rows; the
    training set is recomputed from the restored labels and feature tables with the recorded manifest
    (a fresh feature repository in `workspace/feature_repo`) and written to `workspace/rebuilt/`.

    Returns data_state_id, tag, training_set, rows, sha256 (recorded), sha256_restored, sha256_rebuilt,
    identical (all three equal), frames_equal, feature_tables (view -> rebuilt table matches) and
    rebuilt_path. Raises FeatureStoreError if the state holds no such training set or its inputs differ.
    """
    from datacentric import features as F
    from datacentric.features.tables import features_of
    from datacentric.versioning.versioner import Versioner

    workspace = Path(workspace)
    restored_root = workspace / "repository"
    state = Versioner(repository, remote=remote).restore(ref, restored_root)
    repo = DataRepository(restored_root)
    recipe_path = _recipe_of_state(repo, training_set, state)
    recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
    where = f"training set recipe {repo.relative(recipe_path)} of data state {state['data_state_id']}"
    if recipe.get("format") != RECIPE_FORMAT:
        raise FeatureStoreError(f"{where}: unknown recipe format {recipe.get('format')!r}")

    differing = [path for path, sha in recipe["inputs"].items()
                 if not (restored_root / path).is_file() or sha256_file(restored_root / path) != sha]
    if differing:
        raise FeatureStoreError(
            f"{where}: {len(differing)} input(s) differ from what the training set was built from "
            f"({', '.join(differing[:5])}); the state holds a later version of them"
        )
    loaded = parse_manifest(recipe["manifest"]["text"], f"<manifest recorded in {repo.relative(recipe_path)}>")
    if loaded.sha256 != recipe["manifest"]["sha256"]:
        raise FeatureStoreError(f"{where}: the recorded manifest text does not match its recorded sha256")

    feature_tables = {}
    views = features_of(loaded.spec).feature_views
    for view in recipe["feature_views"]:
        source = views[view].source
        table, _ = F.build_feature_table(loaded.spec, view, repo.read_frame("validated", source))
        rebuilt = sha256_bytes(F.feature_table_bytes(table))
        feature_tables[view] = rebuilt == recipe["inputs"].get(f"features/{view}/data.parquet")

    feature_repo = F.render_feature_repo(loaded.spec, workspace / "feature_repo", restored_root, "sqlite")
    F.apply(feature_repo)
    frame, refs = build_training_frame(loaded, repo, feature_repo)
    if refs != recipe["features"]:
        raise FeatureStoreError(f"{where}: the recorded manifest now yields features {refs}, not {recipe['features']}")
    data = frame_to_parquet_bytes(frame)
    rebuilt_sha = sha256_bytes(data)
    original = restored_root / recipe["training_set"]["path"]
    rebuilt_path = workspace / "rebuilt" / Path(recipe["training_set"]["path"]).relative_to(ZONE)
    rebuilt_path.parent.mkdir(parents=True, exist_ok=True)
    rebuilt_path.write_bytes(data)
    recorded = pd.read_parquet(original)
    try:
        pd.testing.assert_frame_equal(frame, recorded)
        frames_equal = True
    except AssertionError:
        frames_equal = False
    restored_sha = sha256_file(original)
    result = {
        "data_state_id": state["data_state_id"],
        "tag": state.get("tag"),
        "training_set": recipe["training_set"]["path"],
        "rows": len(frame),
        "sha256": recipe["training_set"]["sha256"],
        "sha256_restored": restored_sha,
        "sha256_rebuilt": rebuilt_sha,
        "identical": rebuilt_sha == restored_sha == recipe["training_set"]["sha256"],
        "frames_equal": frames_equal,
        "feature_tables": feature_tables,
        "rebuilt_path": str(rebuilt_path),
    }
    log.info("rebuilt training set %s of data state %s: %s", result["training_set"], result["data_state_id"],
             "identical" if result["identical"] else "DIFFERENT")
    return result


def _recipe_of_state(repo: DataRepository, name: str | None, state: dict[str, Any]) -> Path:
    recipes = repo.files(ZONE, pattern="*.json")
    if not recipes:
        raise FeatureStoreError(
            f"data state {state['data_state_id']} holds no training set recipe ({ZONE}/<task>/<name>.json)"
        )
    if name is not None:
        wanted = repo.path(ZONE, name if name.endswith(".json") else f"{name.removesuffix('.parquet')}.json")
        if not wanted.is_file():
            known = ", ".join(repo.relative(p).removeprefix(f"{ZONE}/") for p in recipes)
            raise FeatureStoreError(
                f"data state {state['data_state_id']} has no training set {name!r} (it has: {known})"
            )
        return wanted
    # The one the snapshotted run wrote: the last recipe the change log records.
    written = [r.path for r in repo.changelog() if r.op != "remove" and r.path.startswith(f"{ZONE}/")
               and r.path.endswith(".json")]
    live = {repo.relative(p) for p in recipes}
    for path in reversed(written):
        if path in live:
            return repo.root / path
    return recipes[-1]


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
