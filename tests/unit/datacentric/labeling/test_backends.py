"""The labeling backend plug-in: the type -> class table, the manifest blocks, and the round
functions every backend goes through (start once, collect once, never a second job)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import LabelingError, ManifestError
from datacentric.labeling.backends import (
    BACKEND_CLASSES,
    BackendNotFound,
    CollectedVotes,
    JobHandle,
    JobStatus,
    LabelingBackend,
    LabelingJobFailed,
    backend_class,
    backend_config,
    get_backend,
)
from datacentric.labeling.rounds import consolidate_round, finish_round, run_round, start_round
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository

CLASSES = ["neg", "neu", "pos"]

LABEL_TASK = """\
  name: sentiment
  classes: [neg, neu, pos]
  workers_per_item: 3
  budget_per_run: 10
  backend: BACKEND
  simulation: {truth: truth.csv, workers: 5, accuracy: [0.9, 0.9, 0.8, 0.7, 0.6], seed: 3}
  ground_truth:
    bucket: labeling-bucket
    role_arn: arn:aws:iam::123456789012:role/GroundTruth
    workteam_arn: arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers
  label_studio: {conn_id: my_label_studio}
"""


@pytest.fixture
def manifest(reviews_manifest):
    """The labeling manifest with the given backend, parsed."""
    return lambda backend="simulated": parse_manifest(reviews_manifest(LABEL_TASK).replace("BACKEND", backend))


def test_every_backend_type_resolves_to_its_class() -> None:
    assert set(BACKEND_CLASSES) == {"simulated", "ground_truth", "label_studio"}
    for name in BACKEND_CLASSES:
        cls = backend_class(name)
        assert issubclass(cls, LabelingBackend) and cls.type == name
    with pytest.raises(BackendNotFound, match="no labeling backend 'toloka'; backends are"):
        backend_class("toloka")


def test_each_backend_reads_its_own_manifest_block(manifest) -> None:
    task = manifest().spec.label_task
    assert backend_config(task).type == "simulated" and backend_config(task).seed == 3
    assert backend_config(task, "ground_truth").bucket == "labeling-bucket"
    assert backend_config(task, "label_studio").conn_id == "my_label_studio"
    assert get_backend(task, "label_studio", client=object()).config.type == "label_studio"


def test_a_backend_without_its_block_is_a_clear_error(reviews_manifest) -> None:
    text = reviews_manifest(LABEL_TASK).replace("BACKEND", "label_studio").replace(
        "  label_studio: {conn_id: my_label_studio}\n", "")
    with pytest.raises(ManifestError, match=r"label_task: .*backend 'label_studio' needs a 'label_studio' block"):
        parse_manifest(text)
    task = parse_manifest(reviews_manifest(LABEL_TASK).replace("BACKEND", "simulated").replace(
        "  label_studio: {conn_id: my_label_studio}\n", "")).spec.label_task
    with pytest.raises(LabelingError, match="backend 'label_studio' needs a 'label_studio' block"):
        backend_config(task, "label_studio")


def test_ground_truth_block_is_checked_where_it_is_written(reviews_manifest) -> None:
    bad = reviews_manifest(LABEL_TASK).replace("BACKEND", "ground_truth").replace(
        "arn:aws:iam::123456789012:role/GroundTruth", "admin")
    with pytest.raises(ManifestError, match=r"manifest>:2\d: label_task.ground_truth.role_arn"):
        parse_manifest(bad)


def test_a_backend_lacking_a_client_names_it(manifest) -> None:
    backend = get_backend(manifest("ground_truth").spec.label_task)
    with pytest.raises(LabelingError, match="ground_truth labeling backend needs a 'sagemaker' client"):
        backend.submit("job", pd.DataFrame({"task": ["a"], "text": ["x"]}))


class FakeJobBackend(LabelingBackend):
    """A backend whose job takes time and costs money: it counts the jobs it starts."""

    type = "label_studio"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: dict[str, pd.DataFrame] = {}
        self.started = 0
        self.state = "in_progress"
        self.collects = 0

    def submit(self, job_name, items):
        if job_name in self.jobs:
            return JobHandle(job_name, f"id-{job_name}", existing=True)
        self.jobs[job_name] = items
        self.started += 1
        return JobHandle(job_name, f"id-{job_name}", url=f"http://labels/{job_name}")

    def status(self, job_name):
        return JobStatus(job_name, self.state, 0, len(self.jobs[job_name]), "stopped by its owner"
                         if self.state == "failed" else "")

    def collect(self, job_name, items):
        self.collects += 1
        votes = [(t, f"w{i}", CLASSES[i % 3]) for t in items["task"] for i in range(3)]
        rejected = [(items["task"].iloc[0], "w9", "great", "label outside the category set", "export: task 1")]
        return CollectedVotes.from_rows(votes, rejected, raw={"export.json": b"[]"})


def _repo(tmp_path: Path, n: int = 20) -> DataRepository:
    repo = DataRepository(tmp_path / "repo").init()
    ids = [f"r{i:03d}" for i in range(n)]
    repo.publish_frame("validated", "reviews/data.parquet", pd.DataFrame({"id": ids, "text": ["t"] * n}))
    return repo


def test_a_retry_reuses_items_and_job_and_collects_once(manifest, tmp_path: Path) -> None:
    loaded = manifest("label_studio")
    repo = _repo(tmp_path)
    backend = FakeJobBackend(loaded.spec.label_task, None)
    first = start_round(loaded, repo, backend, job_name="job-1", run_id="r1")
    assert (first.state, first.items, first.votes, first.reused) == ("in_progress", 10, 0, False)
    assert first.job_id == "id-job-1" and first.url == "http://labels/job-1"
    # New rows arrive before the retry: the round keeps the items it already sent out.
    repo.publish_frame("validated", "reviews/more.parquet", pd.DataFrame({"id": ["a000"], "text": ["t"]}))
    again = start_round(loaded, repo, backend, job_name="job-1", run_id="r1-retry")
    assert again.reused and backend.started == 1
    assert pd.read_parquet(repo.path("labels", "sentiment/items/job-1.parquet"))["task"].tolist() == [
        f"r{i:03d}" for i in range(10)]
    with pytest.raises(LabelingError, match="still in progress"):
        finish_round(loaded, repo, backend, job_name="job-1", run_id="r1")
    backend.state = "completed"
    done = finish_round(loaded, repo, backend, job_name="job-1", run_id="r1")
    assert (done.state, done.votes, done.rejected) == ("collected", 30, 1)
    rejected = pd.read_parquet(repo.path("labels", "sentiment/responses_rejected/job-1.parquet"))
    assert rejected.loc[0, "reason"] == "label outside the category set" and rejected.loc[0, "origin"]
    assert repo.path("labels", "sentiment/responses/job-1/export.json").read_bytes() == b"[]"
    log_size = len(repo.changelog())
    assert finish_round(loaded, repo, backend, job_name="job-1", run_id="r2").reused
    assert start_round(loaded, repo, backend, job_name="job-1", run_id="r2").state == "collected"
    assert (backend.collects, backend.started, len(repo.changelog())) == (1, 1, log_size)


def test_a_failed_job_raises_with_its_reason(manifest, tmp_path: Path) -> None:
    loaded = manifest("label_studio")
    repo = _repo(tmp_path)
    backend = FakeJobBackend(loaded.spec.label_task, None)
    start_round(loaded, repo, backend, job_name="job-1", run_id="r1")
    backend.state = "failed"
    with pytest.raises(LabelingJobFailed, match="job 'job-1' did not complete: stopped by its owner"):
        finish_round(loaded, repo, backend, job_name="job-1", run_id="r1")
    assert not repo.path("labels", "sentiment/votes/job-1.parquet").exists()


def test_nothing_to_label_starts_no_job(manifest, tmp_path: Path) -> None:
    loaded = manifest("label_studio")
    repo = _repo(tmp_path, n=0)
    backend = FakeJobBackend(loaded.spec.label_task, None)
    result = start_round(loaded, repo, backend, job_name="job-1", run_id="r1")
    assert (result.state, result.items, result.votes, backend.started) == ("collected", 0, 0, 0)
    assert "no labeling job was started" in result.messages[0]


def test_simulated_backend_through_run_round_feeds_consolidation(manifest, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    loaded = manifest("simulated")
    repo = _repo(tmp_path)
    landing = tmp_path / "landing"
    landing.mkdir()
    ids = [f"r{i:03d}" for i in range(20)]
    pd.DataFrame({"id": ids, "label": np.resize(CLASSES, 20)}).to_csv(landing / "truth.csv", index=False)
    result = run_round(loaded, repo, landing_root=landing, job_name="job-1", run_id="r1")
    assert (result.backend, result.state, result.items, result.votes) == ("simulated", "collected", 10, 30)
    votes = pd.read_parquet(repo.path("labels", "sentiment/votes/job-1.parquet"))
    assert votes["worker"].str.startswith("simulated-").all()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    summary = consolidate_round(loaded, repo, job_name="job-1", run_id="r1", created_at=when)
    assert summary.votes_in == summary.votes_used == 30
