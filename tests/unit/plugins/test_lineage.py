"""OpenLineage of the custom operators: each returns OperatorLineage with the right inputs and outputs,
read from the repository's provenance. The methods are called as the provider calls them, after a run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from datacentric.hashing import sha256_file
from datacentric.repository.store import DataRepository
from datacentric.settings import BUNDLED_MANIFEST
from datacentric.versioning.versioner import Versioner
from openlineage.client.serde import Serde

MANIFEST = str(BUNDLED_MANIFEST)


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataRepository:
    """A repository after one run of the bundled manifest's stages (a few rows each)."""
    root = tmp_path / "repo"
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(root))
    monkeypatch.setenv("DATACENTRIC_FEATURE_REPO", str(tmp_path / "feature_repo"))
    monkeypatch.setenv("DATACENTRIC_ONLINE_STORE", "sqlite")
    repo = DataRepository(root).init()
    landing = tmp_path / "landing"
    landing.mkdir()
    frame = pd.DataFrame({"review_id": ["r1", "r2"], "product_id": [1, 2]})
    for name in ("reviews-01.jsonl", "reviews-02.jsonl"):
        (landing / name).write_text(name)
        repo.publish_frame("raw", f"reviews/{name.split('.')[0]}.parquet", frame, run_id="run1", provenance={
            "source": "reviews", "origin": (landing / name).as_uri(), "origin_sha256": sha256_file(landing / name),
            "stage": "ingest"})
    repo.publish_frame("quarantine", "reviews/ingest/reviews-02.parquet", frame.head(1), run_id="run1",
                       provenance={"source": "reviews", "origin": (landing / "reviews-02.jsonl").as_uri(),
                                   "origin_sha256": sha256_file(landing / "reviews-02.jsonl"), "stage": "ingest",
                                   "kind": "quarantine"})
    repo.publish_frame("raw", "products/catalog.parquet", frame, run_id="run1", provenance={
        "source": "products", "origin": "sqlite:////data/catalog.db#products", "origin_sha256": "abc",
        "stage": "ingest"})
    for source in ("reviews", "products"):
        inputs = [repo.relative(p) for p in repo.files("raw", source)]
        repo.publish_frame("validated", f"{source}/data.parquet", frame, run_id="run1",
                           provenance={"source": source, "stage": "validate", "inputs": inputs})
    repo.publish_frame("reports", "relationships.json", frame, run_id="run1", provenance={"stage": "relationships"})
    job = {"task": "review_sentiment", "job_name": "j1", "backend": "simulated", "source": "reviews"}
    repo.publish_frame("labels", "review_sentiment/items/j1.parquet", frame, run_id="run1", provenance=job)
    repo.publish_frame("labels", "review_sentiment/votes/j1.parquet", frame, run_id="run1",
                       provenance={**job, "annotators": ["w1"]})
    repo.publish_frame("labels", "review_sentiment/consolidated/j1.parquet", frame, run_id="run1", provenance={
        "task": "review_sentiment", "job_name": "j1", "stage": "consolidate",
        "votes": ["review_sentiment/votes/j1.parquet"]})
    repo.publish_frame("features", "product_catalog/table.parquet", frame, run_id="run1", provenance={
        "stage": "features", "feature_view": "product_catalog", "inputs": "validated/products"})
    repo.publish_frame("training_sets", "review_sentiment/i1.parquet", frame, run_id="run1", provenance={
        "stage": "training_set", "features": ["product_catalog:price"],
        "labels": ["labels/review_sentiment/consolidated/j1.parquet"]})
    return repo


def _names(datasets: list) -> set[str]:
    return {d.name for d in datasets}


def _version(dataset) -> str | None:
    facet = (dataset.facets or {}).get("version")
    return facet.datasetVersion if facet else None


def _lineage(operator, run_id: str = "run1"):
    lineage = operator.get_openlineage_facets_on_complete(SimpleNamespace(run_id=run_id))
    for dataset in [*lineage.inputs, *lineage.outputs]:
        Serde.to_dict(dataset)  # every facet serialises, as the transport will do
    assert lineage.job_facets["sourceCodeLocation"].type == "git"
    return lineage


def test_ingest_reads_source_objects_and_writes_raw_files(repository: DataRepository, tmp_path: Path) -> None:
    from datacentric_airflow.operators.ingest import IngestSourceOperator

    lineage = _lineage(IngestSourceOperator(task_id="ingest", manifest=MANIFEST, source="reviews"))
    landing = tmp_path / "landing"
    assert {(d.namespace, d.name, _version(d)) for d in lineage.inputs} == {
        ("file", str(landing / n), sha256_file(landing / n)) for n in ("reviews-01.jsonl", "reviews-02.jsonl")}
    root = repository.root.resolve()
    assert _names(lineage.outputs) == {str(root / "raw/reviews/reviews-01.parquet"),
                                       str(root / "raw/reviews/reviews-02.parquet"),
                                       str(root / "quarantine/reviews/ingest/reviews-02.parquet")}
    out = next(d for d in lineage.outputs if d.name.endswith("raw/reviews/reviews-01.parquet"))
    assert _version(out) == sha256_file(root / "raw/reviews/reviews-01.parquet")
    assert out.outputFacets["outputStatistics"].rowCount == 2


def test_a_rerun_that_changed_nothing_reports_what_its_stage_last_produced(repository: DataRepository) -> None:
    from datacentric_airflow.operators.ingest import IngestSourceOperator

    operator = IngestSourceOperator(task_id="ingest", manifest=MANIFEST, source="products")
    assert _names(_lineage(operator, run_id="a-later-run").outputs) == _names(_lineage(operator).outputs)
    inputs = _lineage(operator).inputs
    assert [(d.namespace, d.name) for d in inputs] == [("sqlite", "/data/catalog.db.products")]


def test_validation_and_relationships(repository: DataRepository) -> None:
    from datacentric_airflow.operators.validation import RelationshipCheckOperator, ValidateSourceOperator

    root = repository.root.resolve()
    lineage = _lineage(ValidateSourceOperator(task_id="validate", manifest=MANIFEST, source="reviews"))
    assert _names(lineage.inputs) == {str(root / "raw/reviews/reviews-01.parquet"),
                                      str(root / "raw/reviews/reviews-02.parquet")}
    assert _names(lineage.outputs) == {str(root / "validated/reviews/data.parquet")}
    lineage = _lineage(RelationshipCheckOperator(task_id="relationships", manifest=MANIFEST))
    assert _names(lineage.inputs) == {str(root / "validated/reviews/data.parquet"),
                                      str(root / "validated/products/data.parquet")}
    assert _names(lineage.outputs) == {str(root / "reports/relationships.json")}


def test_labeling_consolidation_features_and_training_set(repository: DataRepository) -> None:
    from datacentric_airflow.operators.features import (
        FeastApplyOperator,
        FeastMaterializeOperator,
        TrainingSetOperator,
    )
    from datacentric_airflow.operators.labeling import ConsolidateLabelsOperator, LabelingRoundOperator

    root = repository.root.resolve()
    labels = root / "labels/review_sentiment"
    lineage = _lineage(LabelingRoundOperator(task_id="label", manifest=MANIFEST))
    assert _names(lineage.inputs) == {str(root / "validated/reviews/data.parquet"), str(labels / "items/j1.parquet")}
    assert _names(lineage.outputs) == {str(labels / "items/j1.parquet"), str(labels / "votes/j1.parquet")}
    lineage = _lineage(ConsolidateLabelsOperator(task_id="consolidate", manifest=MANIFEST, job_name="j1"))
    assert _names(lineage.inputs) == {str(labels / "votes/j1.parquet")}
    assert _names(lineage.outputs) == {str(labels / "consolidated/j1.parquet")}
    lineage = _lineage(FeastApplyOperator(task_id="feast_apply", manifest=MANIFEST))
    assert _names(lineage.inputs) == {str(root / "validated/products/data.parquet")}
    assert _names(lineage.outputs) == {str(root / "features/product_catalog/table.parquet")}
    lineage = _lineage(FeastMaterializeOperator(task_id="materialize", manifest=MANIFEST))
    assert _names(lineage.inputs) == {str(root / "features/product_catalog/table.parquet")}
    assert [(d.namespace, d.name.rsplit("#", 1)[-1]) for d in lineage.outputs] == [("sqlite", "product_catalog")]
    lineage = _lineage(TrainingSetOperator(task_id="training_set", manifest=MANIFEST))
    assert _names(lineage.inputs) == {str(labels / "consolidated/j1.parquet"),
                                      str(root / "features/product_catalog/table.parquet")}
    assert _names(lineage.outputs) == {str(root / "training_sets/review_sentiment/i1.parquet")}


def test_manifest_snapshot_and_restore(repository: DataRepository, tmp_path: Path) -> None:
    from datacentric_airflow.operators.manifest import ManifestSourcesOperator
    from datacentric_airflow.operators.versioning import RestoreStateOperator, SnapshotOperator

    lineage = _lineage(ManifestSourcesOperator(task_id="read_manifest", manifest=MANIFEST))
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", MANIFEST)] and not lineage.outputs

    snapshot_task = SnapshotOperator(task_id="snapshot", manifest=MANIFEST, stage="final")
    snap = Versioner(repository.root).snapshot("d/final/i1", message="m", pins={"code_revision": "c"})
    snapshot_task.snapshot_ = snap
    lineage = _lineage(snapshot_task)
    root = repository.root.resolve()
    assert {(d.name, _version(d)) for d in lineage.inputs} == {(str(root / z), md5)
                                                              for z, md5 in snap.pins["zones"].items()}
    assert [(d.name, _version(d)) for d in lineage.outputs] == [(str(root), snap.data_state_id)]
    facet = Serde.to_dict(lineage.run_facets["dataState"])
    assert (facet["dataStateId"], facet["tag"], facet["status"]) == (snap.data_state_id, "d/final/i1", "new")

    restore_task = RestoreStateOperator(task_id="restore", state=snap.data_state_id)
    restore_task.restored_ = Versioner(repository.root).ensure_restored(snap.data_state_id, tmp_path / "ws")
    lineage = _lineage(restore_task)
    assert [(d.name, _version(d)) for d in lineage.outputs] == [(str((tmp_path / "ws").resolve()),
                                                                 snap.data_state_id)]


def test_dataset_names_follow_openlineage_conventions() -> None:
    from datacentric_airflow.lineage import dataset_name

    assert dataset_name("file:///landing/a.csv") == ("file", "/landing/a.csv")
    assert dataset_name("s3://lake/events/e1.parquet") == ("s3://lake", "events/e1.parquet")
    assert dataset_name("postgresql+psycopg2://***@db:5432/shop#public.products") == (
        "postgresql+psycopg2://db:5432", "shop.public.products")
    assert dataset_name("https://api.example.com/v1/items?page=2") == ("https://api.example.com", "v1/items?page=2")


def test_recover_diff_catalog_and_freshness(repository: DataRepository, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from datacentric_airflow.operators.features import FeastFreshnessCheckOperator
    from datacentric_airflow.operators.repository import (
        DiffRepositoryOperator,
        RecoverRepositoryOperator,
        RenderCatalogOperator,
    )

    monkeypatch.setenv("DATACENTRIC_VAR", str(tmp_path / "var"))
    root = str(repository.root.resolve())
    lineage = _lineage(RecoverRepositoryOperator(task_id="recover", point="now", dest=str(tmp_path / "rec")))
    assert (_names(lineage.inputs), _names(lineage.outputs)) == ({root}, {str(tmp_path / "rec")})
    lineage = _lineage(RecoverRepositoryOperator(task_id="recover", point="now"), run_id="manual__2026-10-31")
    assert _names(lineage.outputs) == {str(tmp_path / "var/recovered/manual__2026-10-31")}
    lineage = _lineage(DiffRepositoryOperator(task_id="diff", before="empty"))
    assert (_names(lineage.inputs), lineage.outputs) == ({root}, [])
    lineage = _lineage(RenderCatalogOperator(task_id="catalog", manifest=MANIFEST))
    assert _names(lineage.inputs) == {MANIFEST, root}
    assert _names(lineage.outputs) == {str(tmp_path / "var/catalog/shop.html")}
    lineage = _lineage(FeastFreshnessCheckOperator(task_id="fresh", manifest=MANIFEST))
    assert [d.namespace for d in lineage.inputs] == ["sqlite", "file"] and not lineage.outputs
    assert lineage.inputs[1].name == f"{root}/features/product_catalog/table.parquet"
