"""Training sets: point-in-time export with its recipe, and rebuilding a data state's training set exactly.

Real Feast, real DVC snapshots; expected values come from plain pandas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric import features as F
from datacentric.errors import FeatureStoreError
from datacentric.features.training import export_training_set, label_entities, rebuild_training_set
from datacentric.manifest import load_manifest
from datacentric.repository.store import DataRepository
from datacentric.versioning.versioner import Versioner

from tests.fixtures.manifest_text import products_manifest

MANIFEST = products_manifest(
    sources={
        "products": {"columns": {"title": None, "stock": None, "category": None, "active": None}},
        "reviews": {"type": "file", "owner": "test", "location": {"path": "reviews", "format": "jsonl"},
                    "keys": ["review_id"], "event_time": "created_at",
                    "columns": {"review_id": {"type": "str", "nullable": False},
                                "product_id": {"type": "int", "nullable": False}, "text": {"type": "str"},
                                "created_at": {"type": "timestamp", "nullable": False}}},
    },
    label_task={"name": "sentiment", "source": "reviews", "item_key": "review_id", "text_field": "text",
                "classes": ["neg", "pos"], "simulation": {"truth": "truth.csv"}},
    features={"feature_views": {"product_stats": {"features": ["price"], "ttl_days": 30}}},
)
T0 = pd.Timestamp("2026-10-01", tz="UTC")


def _products(rng: np.random.Generator, n: int, start: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({
        "product_id": pd.array(rng.integers(1, 6, n), dtype="Int64"),
        "price": rng.integers(100, 10_000, n) / 100,
        "updated_at": [start + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, 20 * 86400, n)],
    }).astype({"updated_at": "datetime64[ns, UTC]"})


def _reviews(rng: np.random.Generator, ids: range, start: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({
        "review_id": [f"R{i:04d}" for i in ids],
        "product_id": pd.array(rng.integers(1, 7, len(ids)), dtype="Int64"),  # 6 has no features
        "text": ["fine"] * len(ids),
        "created_at": [start + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, 25 * 86400, len(ids))],
    }).astype({"created_at": "datetime64[ns, UTC]"})


def _labels(ids: list[str], job: str) -> pd.DataFrame:
    return pd.DataFrame({"task": ids, "label": ["pos" if i % 2 else "neg" for i in range(len(ids))],
                         "confidence": [0.9] * len(ids), "job_name": [job] * len(ids)})


@pytest.fixture
def world(tmp_path: Path):
    manifest_path = tmp_path / "manifest.yaml"
    manifest_path.write_text(MANIFEST)
    loaded = load_manifest(manifest_path)
    repo = DataRepository(tmp_path / "repository").init()
    rng = np.random.default_rng(5)
    products, reviews = _products(rng, 40, T0), _reviews(rng, range(30), T0)
    repo.publish_frame("validated", "products/p0.parquet", products)
    repo.publish_frame("validated", "reviews/r0.parquet", reviews)
    first_labels = _labels(list(reviews["review_id"][:20]), "job-1")
    repo.publish_frame("labels", "sentiment/consolidated/job-1.parquet", first_labels)
    F.export_feature_tables(loaded.spec, repo)
    feature_repo = F.render_feature_repo(loaded.spec, tmp_path / "feature_repo", repo.root, "sqlite")
    F.apply(feature_repo)
    return {"tmp": tmp_path, "loaded": loaded, "repo": repo, "feature_repo": feature_repo, "rng": rng,
            "products": products, "reviews": reviews}


def _expected_prices(products: pd.DataFrame, entity_df: pd.DataFrame) -> list[float | None]:
    out = []
    for _, row in entity_df.iterrows():
        at = row["event_timestamp"]
        rows = products[(products["product_id"] == row["product_id"]) & (products["updated_at"] <= at)
                        & (products["updated_at"] >= at - pd.Timedelta(days=30))]
        out.append(rows.sort_values("updated_at")["price"].iloc[-1] if len(rows) else None)
    return out


def test_export_writes_point_in_time_rows_and_a_recipe_and_is_idempotent(world):
    repo, loaded = world["repo"], world["loaded"]
    result = export_training_set(loaded, repo, world["feature_repo"], name="t1", run_id="run-1")
    frame = pd.read_parquet(repo.root / result["path"])
    assert len(frame) == result["rows"] == 20
    entity_df, refs = label_entities(loaded, repo)
    assert refs == ["product_stats:price"] == result["features"]
    expected = _expected_prices(world["products"], entity_df)
    assert [None if pd.isna(v) else v for v in frame["price"]] == expected
    assert any(v is None for v in expected) and any(v is not None for v in expected)  # not vacuous

    recipe = json.loads((repo.root / result["recipe"]).read_text())
    assert recipe["training_set"] == {"path": result["path"], "sha256": result["sha256"], "rows": 20}
    assert recipe["manifest"]["text"] == MANIFEST and recipe["manifest"]["sha256"] == loaded.sha256
    assert recipe["offline_store"] == "file"
    assert set(recipe["inputs"]) == {"labels/sentiment/consolidated/job-1.parquet", "validated/reviews/r0.parquet",
                                     "features/product_stats/data.parquet"}

    log_before = (repo.root / "changelog.jsonl").read_bytes()
    again = export_training_set(loaded, repo, world["feature_repo"], name="t1", run_id="run-2")
    assert again["sha256"] == result["sha256"]
    assert (repo.root / "changelog.jsonl").read_bytes() == log_before  # nothing republished


def test_rebuild_reproduces_each_data_states_training_set(world):
    tmp, repo, loaded, rng = world["tmp"], world["repo"], world["loaded"], world["rng"]
    versioner = Versioner(repo.root, remote=str(tmp / "remote"))
    first = export_training_set(loaded, repo, world["feature_repo"], name="t1", run_id="run-1")
    state1 = versioner.snapshot("mini/final/1", message="first", pins={"manifest_sha256": loaded.sha256})

    # The next interval: later prices, more reviews and labels, a new training set.
    repo.publish_frame("validated", "products/p1.parquet", _products(rng, 40, T0 + pd.Timedelta(days=15)))
    more = _reviews(rng, range(30, 50), T0 + pd.Timedelta(days=10))
    repo.publish_frame("validated", "reviews/r1.parquet", more)
    repo.publish_frame("labels", "sentiment/consolidated/job-2.parquet", _labels(list(more["review_id"]), "job-2"))
    F.export_feature_tables(loaded.spec, repo)
    second = export_training_set(loaded, repo, world["feature_repo"], name="t2", run_id="run-2")
    state2 = versioner.snapshot("mini/final/2", message="second", pins={"manifest_sha256": loaded.sha256},
                                rescan=True)
    assert state1.data_state_id != state2.data_state_id
    assert second["rows"] == 40 and second["sha256"] != first["sha256"]

    old = rebuild_training_set(repo.root, state1.data_state_id, tmp / "ws1")
    assert old["training_set"] == first["path"]
    assert old["sha256_rebuilt"] == old["sha256_restored"] == old["sha256"] == first["sha256"]
    assert old["identical"] and old["frames_equal"] and old["feature_tables"] == {"product_stats": True}
    assert pd.read_parquet(old["rebuilt_path"]).equals(pd.read_parquet(repo.root / first["path"]))

    new = rebuild_training_set(repo.root, state2.tag, tmp / "ws2")
    assert new["training_set"] == second["path"] and new["identical"] and new["sha256"] == second["sha256"]

    # t1 is still in the later state, but its inputs there are newer versions: it cannot be rebuilt from it.
    with pytest.raises(FeatureStoreError, match="input\\(s\\) differ"):
        rebuild_training_set(repo.root, state2.data_state_id, tmp / "ws3", training_set="sentiment/t1")
    with pytest.raises(FeatureStoreError, match="has no training set 'sentiment/nope'"):
        rebuild_training_set(repo.root, state2.data_state_id, tmp / "ws4", training_set="sentiment/nope")
