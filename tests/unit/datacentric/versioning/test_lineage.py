"""Lineage from the change log's provenance and the snapshots' pins: what produced a file, what
depends on a source version. The repository is filled the way the pipeline's stages fill it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from datacentric.cli import main
from datacentric.errors import RepositoryError
from datacentric.hashing import sha256_file
from datacentric.repository.store import DataRepository
from datacentric.versioning.lineage import Input, Lineage
from datacentric.versioning.versioner import Versioner


@dataclass
class Built:
    root: Path
    origins: dict[str, str]  # landing name -> URI
    origin_sha: dict[str, list[str]]  # landing name -> checksums, oldest first
    states: list[str]  # data state ids, oldest first


def _ingest(repo: DataRepository, landing: Path, name: str, text: str, run_id: str, built: Built) -> None:
    path = landing / name
    path.write_text(text)
    uri, sha = path.as_uri(), sha256_file(path)
    built.origins[name] = uri
    built.origin_sha.setdefault(name, []).append(sha)
    rows = pd.DataFrame({"line": text.splitlines()})
    repo.publish_frame("raw", f"reviews/{path.stem}.parquet", rows, run_id=run_id, provenance={
        "source": "reviews", "origin": uri, "origin_sha256": sha, "stage": "ingest",
        "window": {"start": "2026-10-30", "end": "2026-10-31"}, "max_time": "2026-10-30T23:00:00+00:00"})


def _validate(repo: DataRepository, run_id: str, source: str) -> None:
    inputs = [repo.relative(p) for p in repo.files("raw", source)]
    frame = pd.concat([pd.read_parquet(p) for p in repo.files("raw", source)], ignore_index=True)
    repo.publish_frame("validated", f"{source}/data.parquet", frame, run_id=run_id,
                       provenance={"source": source, "stage": "validate", "inputs": inputs})


@pytest.fixture
def built(tmp_path: Path) -> Built:
    root, landing = tmp_path / "repo", tmp_path / "landing"
    landing.mkdir()
    repo = DataRepository(root).init()
    v = Versioner(root)
    b = Built(root, {}, {}, [])
    # run 1: ingest two review files and the product table, validate, snapshot
    _ingest(repo, landing, "reviews-1.jsonl", "a\nb\n", "run1", b)
    _ingest(repo, landing, "reviews-2.jsonl", "c\n", "run1", b)
    products = pd.DataFrame({"product_id": [1, 2], "price": [3.0, 4.0]})
    repo.publish_frame("raw", "products/catalog.parquet", products, run_id="run1", provenance={
        "source": "products", "origin": "postgresql://127.0.0.1:5432/shop#public.products", "origin_sha256": None,
        "stage": "ingest", "max_time": "2026-10-30T12:00:00+00:00"})
    _validate(repo, "run1", "reviews")
    _validate(repo, "run1", "products")
    b.states.append(v.snapshot("pipe/validated/i1", message="m", pins={"code_revision": "c1"},
                               run={"dag_id": "pipe", "run_id": "run1"}).data_state_id)
    # labeling, consolidation, features and the training set
    items = pd.DataFrame({"task": ["a", "b", "c"]})
    prov = {"task": "sentiment", "job_name": "j1", "backend": "simulated", "source": "reviews"}
    repo.publish_frame("labels", "sentiment/items/j1.parquet", items, run_id="run1", provenance=prov)
    repo.publish_frame("labels", "sentiment/votes/j1.parquet", items, run_id="run1",
                       provenance={**prov, "annotators": ["w1", "w2"]})
    repo.publish_frame("labels", "sentiment/consolidated/j1.parquet", items, run_id="run1", provenance={
        "task": "sentiment", "job_name": "j1", "stage": "consolidate", "votes": ["sentiment/votes/j1.parquet"]})
    repo.publish_frame("features", "product_catalog/table.parquet", products, run_id="run1", provenance={
        "stage": "features", "feature_view": "product_catalog", "source": "products",
        "inputs": "validated/products"})
    repo.publish_frame("training_sets", "sentiment/i1.parquet", items, run_id="run1", provenance={
        "stage": "training_set", "task": "sentiment", "features": ["product_catalog:price"],
        "labels": ["labels/sentiment/consolidated/j1.parquet"]})
    b.states.append(v.snapshot("pipe/final/i1", message="m", pins={"code_revision": "c2"},
                               run={"dag_id": "pipe", "run_id": "run1"}).data_state_id)
    # run 2: a new version of reviews-2 arrives, raw and validated are replaced
    _ingest(repo, landing, "reviews-2.jsonl", "c\nd\n", "run2", b)
    _validate(repo, "run2", "reviews")
    b.states.append(v.snapshot("pipe/validated/i2", message="m", pins={"code_revision": "c3"},
                               run={"dag_id": "pipe", "run_id": "run2"}).data_state_id)
    return b


def test_what_produced_a_file(built: Built) -> None:
    graph = Lineage.of_repository(built.root)
    version = graph.produced_by("validated/reviews/data.parquet")
    assert (version.run_id, version.dag_id, version.stage) == ("run2", "pipe", "validate")
    assert version.operator == "ValidateSourceOperator"
    assert (version.code_revision, version.data_state_id) == ("c3", built.states[2])
    raw = ("raw/reviews/reviews-1.parquet", "raw/reviews/reviews-2.parquet")
    current = {p: sha256_file(built.root / p) for p in raw}
    assert {(i.kind, i.ref, i.sha256) for i in version.inputs} == {("artifact", p, s) for p, s in current.items()}
    assert version.sha256 == sha256_file(built.root / "validated/reviews/data.parquet")


def test_an_older_version_names_the_inputs_it_was_made_from(built: Built) -> None:
    graph = Lineage.of_repository(built.root)
    old, new = [v for v in graph.history("validated/reviews/data.parquet")]
    assert graph.produced_by("validated/reviews/data.parquet", old.sha256[:12]).position == old.position
    assert (old.run_id, old.code_revision, old.data_state_id) == ("run1", "c1", built.states[0])
    old_raw = {i.ref: i.sha256 for i in old.inputs}["raw/reviews/reviews-2.parquet"]
    new_raw = {i.ref: i.sha256 for i in new.inputs}["raw/reviews/reviews-2.parquet"]
    assert old_raw != new_raw
    source_of_old = graph.versions[{i.ref: i for i in old.inputs}["raw/reviews/reviews-2.parquet"].position]
    assert source_of_old.inputs[0].sha256 == built.origin_sha["reviews-2.jsonl"][0]


def test_upstream_reaches_every_source_with_its_checksum_and_window(built: Built) -> None:
    items = Lineage.of_repository(built.root).upstream("training_sets/sentiment/i1.parquet")
    assert items[0][0] == 0 and items[0][1].path == "training_sets/sentiment/i1.parquet"
    sources = {(i.ref, i.sha256) for _, i in items if isinstance(i, Input) and i.kind == "source"}
    assert (built.origins["reviews-1.jsonl"], built.origin_sha["reviews-1.jsonl"][0]) in sources
    # the training set was made before reviews-2 changed: it stands on reviews-2's first version
    assert (built.origins["reviews-2.jsonl"], built.origin_sha["reviews-2.jsonl"][0]) in sources
    assert (built.origins["reviews-2.jsonl"], built.origin_sha["reviews-2.jsonl"][1]) not in sources
    assert ("postgresql://127.0.0.1:5432/shop#public.products", None) in sources
    marks = [i.marks for _, i in items if isinstance(i, Input) and i.ref == built.origins["reviews-1.jsonl"]]
    assert marks[0]["window"] == {"start": "2026-10-30", "end": "2026-10-31"} and "max_time" in marks[0]
    paths = [getattr(i, "path", None) for _, i in items]
    for expected in ("labels/sentiment/consolidated/j1.parquet", "labels/sentiment/votes/j1.parquet",
                     "labels/sentiment/items/j1.parquet", "features/product_catalog/table.parquet",
                     "validated/products/data.parquet"):
        assert expected in paths
    assert len(Lineage.of_repository(built.root).upstream("training_sets/sentiment/i1.parquet", depth=1)) == 3


def test_what_depends_on_a_source_version(built: Built) -> None:
    graph = Lineage.of_repository(built.root)
    uri = built.origins["reviews-2.jsonl"]
    first, second = built.origin_sha["reviews-2.jsonl"]
    from_first = {v.path for v in graph.dependents(uri, first)}
    # still in the repository and made from the first version: the labels and the training set
    assert {"labels/sentiment/items/j1.parquet", "training_sets/sentiment/i1.parquet"} <= from_first
    assert "raw/reviews/reviews-2.parquet" not in from_first, "that raw version was replaced"
    from_second = {v.path for v in graph.dependents(uri, second)}
    assert from_second == {"raw/reviews/reviews-2.parquet", "validated/reviews/data.parquet"}
    everything = graph.dependents(uri, first, current_only=False)
    assert "raw/reviews/reviews-2.parquet" in {v.path for v in everything}
    prefix = {v.path for v in graph.dependents(uri.rsplit("/", 1)[0] + "/")}
    assert {"raw/reviews/reviews-1.parquet", "raw/reviews/reviews-2.parquet"} <= prefix
    by_path = {v.path for v in graph.dependents("validated/products/data.parquet")}
    assert by_path == {"features/product_catalog/table.parquet", "training_sets/sentiment/i1.parquet"}


def test_lineage_as_of_a_data_state(built: Built) -> None:
    graph = Lineage.of_repository(built.root, state=built.states[0])
    assert graph.produced_by("validated/reviews/data.parquet").run_id == "run1"
    with pytest.raises(RepositoryError, match="no version of 'training_sets/sentiment/i1.parquet'"):
        graph.produced_by("training_sets/sentiment/i1.parquet")


def test_files_not_snapshotted_yet_have_no_state(built: Built) -> None:
    DataRepository(built.root).publish_frame("reports", "late.parquet", pd.DataFrame({"x": [1]}), run_id="run3")
    version = Lineage.of_repository(built.root).produced_by(str(built.root / "reports/late.parquet"))
    assert (version.data_state_id, version.code_revision, version.run_id) == (None, None, "run3")


def test_command_line(built: Built, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(built.root))
    assert main(["lineage", "of", "validated/reviews/data.parquet"]) == 0
    text = capsys.readouterr().out
    assert "validated/reviews/data.parquet" in text and "operator ValidateSourceOperator" in text
    assert built.origins["reviews-2.jsonl"] in text and "code c3" in text
    assert main(["lineage", "dependents", built.origins["reviews-1.jsonl"], "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert "training_sets/sentiment/i1.parquet" in {v["path"] for v in found}
    assert main(["lineage", "of", "no/such/file.parquet"]) == 2
    assert "no version of 'no/such/file.parquet'" in capsys.readouterr().err
    assert main(["lineage", "of", "validated/reviews/data.parquet", "--state", built.states[0], "--json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert tree[0]["run_id"] == "run1" and tree[0]["depth"] == 0
