"""The whole pipeline through Airflow (`dag.test()`) on the bundled sample data, run twice."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

LOGICAL_DATE = datetime(2026, 10, 31, tzinfo=UTC)
FINAL_TAG = "datacentric_pipeline/final/20261031T000000Z"


@pytest.fixture(scope="module")
def pipeline_run(airflow_db: None):
    from datacentric.samples import generate
    from datacentric.settings import Settings

    settings = Settings.from_env()
    generate(settings.landing_root)

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["datacentric_pipeline"]
    first = dag.test(logical_date=LOGICAL_DATE)
    repo = settings.repository
    state_after_first = {
        "commits": _git(repo, "rev-list", "--count", "HEAD"),
        "changelog": (repo / "changelog.jsonl").read_text(),
        "tags": _git(repo, "tag"),
    }
    second = dag.test(logical_date=LOGICAL_DATE)
    return settings, first, second, state_after_first


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def test_run_succeeds(pipeline_run) -> None:
    _, first, second, _ = pipeline_run
    assert first.state == "success"
    assert second.state == "success"


def test_rows_reconcile_per_source(pipeline_run) -> None:
    from datacentric.repository.store import DataRepository

    settings, *_ = pipeline_run
    repo = DataRepository(settings.repository)
    landing = settings.landing_root
    with sqlite3.connect(landing / "catalog.db") as conn:
        products_in = conn.execute("SELECT count(*) FROM products").fetchone()[0]
    reviews_in = sum(
        1 for f in (landing / "reviews").glob("*.jsonl") for line in f.read_text().splitlines() if line.strip()
    )
    events_in = sum(len(pd.read_parquet(f)) for f in (landing / "events").glob("*.parquet"))
    for source, rows_in in (("products", products_in), ("reviews", reviews_in), ("events", events_in)):
        raw = len(repo.read_frame("raw", source))
        ingest_q = sum(len(pd.read_parquet(f)) for f in repo.files("quarantine", source, "ingest"))
        validated = len(repo.read_frame("validated", source))
        validate_q = sum(len(pd.read_parquet(f)) for f in repo.files("quarantine", source, "validate"))
        assert rows_in == raw + ingest_q, source
        assert raw == validated + validate_q, source
        summary = json.loads(repo.path("reports", f"validation/{source}/summary.json").read_text())
        assert (summary["rows_in"], summary["rows_valid"], summary["rows_quarantined"]) == (raw, validated, validate_q)
    # The generator's bad rows were caught: some at ingestion (types, a cut line), some by validation.
    assert sum(len(pd.read_parquet(f)) for f in repo.files("quarantine", "reviews")) > 0
    assert sum(len(pd.read_parquet(f)) for f in repo.files("quarantine", "events")) > 0


def test_second_run_of_same_interval_changes_nothing(pipeline_run) -> None:
    settings, _, _, before = pipeline_run
    repo = settings.repository
    assert _git(repo, "rev-list", "--count", "HEAD") == before["commits"]
    assert (repo / "changelog.jsonl").read_text() == before["changelog"]
    assert _git(repo, "tag") == before["tags"]


def test_snapshot_tag_exists_and_checks_out(pipeline_run, tmp_path: Path) -> None:
    from datacentric.versioning.versioner import Versioner

    settings, *_ = pipeline_run
    assert FINAL_TAG in _git(settings.repository, "tag").split()
    versioner = Versioner(settings.repository, remote=settings.dvc_remote)
    state = versioner.resolve(FINAL_TAG)
    restored = versioner.restore(state["data_state_id"], tmp_path / "restored")
    assert restored["files_verified"] > 60
    for relative in ("validated/reviews/data.parquet", "training_sets"):
        current = settings.repository / relative
        again = tmp_path / "restored" / relative
        if current.is_file():
            assert again.read_bytes() == current.read_bytes()
        else:
            names = sorted(p.name for p in current.rglob("*.parquet"))
            assert sorted(p.name for p in again.rglob("*.parquet")) == names


def test_labels_and_training_set(pipeline_run) -> None:
    from datacentric.manifest import load_manifest
    from datacentric.repository.store import DataRepository
    from datacentric.settings import BUNDLED_MANIFEST

    settings, *_ = pipeline_run
    task = load_manifest(BUNDLED_MANIFEST).spec.label_task
    repo = DataRepository(settings.repository)
    labels = pd.concat(pd.read_parquet(f) for f in repo.files("labels", task.name, "consolidated"))
    assert len(labels) == task.budget_per_run
    votes = pd.concat(pd.read_parquet(f) for f in repo.files("labels", task.name, "votes"))
    assert len(votes) == task.budget_per_run * task.workers_per_item
    truth = pd.read_csv(settings.landing_root / task.simulation.truth, dtype=str).set_index("review_id")["label"]
    accuracy = (labels.set_index("task")["label"] == truth.reindex(labels["task"]).values).mean()
    assert accuracy > 0.85, f"majority vote accuracy against the simulation's truth: {accuracy:.3f}"
    training = pd.concat(pd.read_parquet(f) for f in repo.files("training_sets"))
    assert len(training) == len(labels)
    assert {"label", "price", "stock", "category", "event_timestamp"} <= set(training.columns)


def test_online_features_equal_source_values(pipeline_run) -> None:
    from datacentric.features import read_online

    settings, *_ = pipeline_run
    with sqlite3.connect(settings.landing_root / "catalog.db") as conn:
        catalog = pd.read_sql("SELECT * FROM products", conn)
    catalog["updated_at"] = pd.to_datetime(catalog["updated_at"], utc=True)
    latest = catalog[catalog["updated_at"] <= LOGICAL_DATE].sort_values("updated_at").groupby("product_id").last()
    sample = latest.sample(25, random_state=0)
    online = read_online(
        settings.feature_repo, "product_catalog", ["price", "stock", "category"],
        [{"product_id": int(pid)} for pid in sample.index],
    ).set_index("product_id")
    for pid, row in sample.iterrows():
        got = online.loc[pid]
        assert got["price"] == pytest.approx(row["price"]), pid
        assert int(got["stock"]) == row["stock"], pid
        assert got["category"] == row["category"], pid
