"""Consolidating a round: Dawid-Skene through the manifest, lineage, Ground Truth output, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import LabelingError
from datacentric.labeling.rounds import NO_ANSWER, check_votes, consolidate_round
from datacentric.labeling.simulated import SimulatedWorkforce
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository

CLASSES = ["neg", "neu", "pos"]
WHEN = datetime(2026, 10, 31, tzinfo=UTC)

LABEL_TASK = """\
  name: sentiment
  classes: [neg, neu, pos]
  workers_per_item: 3
  budget_per_run: 100
  confidence_threshold: 0.8
  consolidation: %s
  backend: simulated
  simulation: {truth: truth.csv, workers: 5, seed: 3, accuracy: [0.9, 0.9, 0.8, 0.7, 0.6]}
"""


def _job(repo: DataRepository, job: str, items: pd.DataFrame, votes: pd.DataFrame) -> None:
    """What a backend leaves in the labels zone after a round: the items sent out and the votes."""
    repo.publish_frame("labels", f"sentiment/items/{job}.parquet", items)
    repo.publish_frame("labels", f"sentiment/votes/{job}.parquet", votes)


def _items(ids: list[str], round_: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"task": ids, "text": [f"text of {i}" for i in ids], "round": round_})


def _simulated_votes(ids: list[str], seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    truth = pd.Series(np.resize(CLASSES, len(ids)), index=ids)
    sim = SimulatedWorkforce(CLASSES, [0.95, 0.9, 0.5, 0.4, 0.35], confusion={4: [[0, 0, 1]] * 3}, seed=seed)
    votes = sim.annotate(pd.DataFrame({"task": ids, "truth": truth.values}), votes_per_item=3)
    return votes, truth


def test_dawid_skene_round_writes_labels_workers_and_ground_truth_manifest(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    ids = [f"r{i:03d}" for i in range(300)]
    votes, truth = _simulated_votes(ids)
    _job(repo, "job-1", _items(ids), votes)

    result = consolidate_round(loaded, repo, job_name="job-1", run_id="run-1", created_at=WHEN)
    assert (result.method, result.items, result.votes_in, result.votes_used, result.votes_rejected) == (
        "dawid_skene", 300, 900, 900, 0)
    labels = pd.read_parquet(repo.root / result.path)
    assert list(labels["task"]) == sorted(ids)
    assert {"label", "confidence", "votes", "annotators", "jobs", "job_name", "method", "consolidated_at"} <= set(
        labels.columns)
    # Lineage: each label names the job and exactly the annotators who voted on the item.
    voters = votes.groupby("task")["worker"].agg(lambda w: sorted(w))
    for row in labels.itertuples():
        assert list(row.annotators) == voters[row.task] and list(row.jobs) == ["job-1"]
    assert (labels["job_name"] == "job-1").all() and labels["confidence"].between(1 / 3, 1).all()
    assert result.low_confidence == int((labels["confidence"] < 0.8).sum())
    accuracy = (labels.set_index("task")["label"] == truth).mean()
    assert accuracy > 0.9

    workers = pd.read_parquet(repo.root / result.workers_path)
    assert sorted(workers["worker"]) == sorted(votes["worker"].unique())
    for row in workers.itertuples():
        matrix = np.asarray(json.loads(row.confusion))
        assert matrix.shape == (3, 3)
        np.testing.assert_allclose(matrix.sum(axis=1), 1, atol=1e-5)
    by_worker = workers.set_index("worker")
    assert by_worker.loc["simulated-00", "accuracy"] > by_worker.loc["simulated-03", "accuracy"]
    assert (np.asarray(json.loads(by_worker.loc["simulated-04", "confusion"]))[:, 2] > 0.9).all()

    lines = [json.loads(line) for line in (repo.root / result.output_manifest).read_text().splitlines()]
    assert len(lines) == 300
    for line in lines[:5]:
        meta = line["sentiment-metadata"]
        assert line["source"] == f"text of {line['id']}"
        assert line["sentiment"] == CLASSES.index(meta["class-name"])
        assert meta["job-name"] == "labeling-job/job-1" and meta["type"] == "groundtruth/text-classification"
        assert meta["human-annotated"] == "yes" and meta["creation-date"] == "2026-10-31T00:00:00"
        assert 0 <= meta["confidence"] <= 1

    # A re-run writes the same bytes: nothing new in the change log.
    log = (repo.root / "changelog.jsonl").read_text()
    consolidate_round(loaded, repo, job_name="job-1", run_id="run-1-retry", created_at=WHEN)
    assert (repo.root / "changelog.jsonl").read_text() == log


def test_majority_vote_is_still_available(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "majority_vote"))
    repo = DataRepository(tmp_path / "repo").init()
    _job(repo, "j", _items(["a", "b"]), pd.DataFrame(
        [("a", "w1", "pos"), ("a", "w2", "pos"), ("a", "w3", "neg"), ("b", "w1", "neu")],
        columns=["task", "worker", "label"]))
    result = consolidate_round(loaded, repo, job_name="j", run_id="r", created_at=WHEN)
    labels = pd.read_parquet(repo.root / result.path).set_index("task")
    assert labels["label"].to_dict() == {"a": "pos", "b": "neu"}
    assert labels.loc["a", "confidence"] == pytest.approx(2 / 3) and result.method == "majority_vote"


def test_malformed_responses_are_rejected_with_reasons_and_counted() -> None:
    items = pd.DataFrame({"task": ["a", "b", "7"], "text": ["x", "y", "z"]})
    votes = pd.DataFrame({
        "task": ["a", "a", "a", "zzz", "b", "b", None, "b", "a", 7, "b"],
        "worker": ["w1", "w1", "w2", "w1", None, "  ", "w3", "w4", ["w5"], 12, "w6"],
        "label": ["pos", "neg", "great", "pos", "pos", "pos", "pos", 2, "pos", "neu", ["pos"]],
    })
    used, rejected = check_votes(votes, items, CLASSES)
    assert len(used) + len(rejected) == len(votes)
    # Integer ids are fine (Label Studio numbers tasks and annotators); the first vote of w1 on a counts.
    assert used.to_dict("records") == [
        {"task": "a", "worker": "w1", "label": "pos"}, {"task": "7", "worker": "12", "label": "neu"}]
    reasons = rejected.set_index(rejected.index)["reason"].tolist()
    assert reasons == [
        "second vote of the same worker on the same item",
        "label outside the category set " + json.dumps(CLASSES),
        "item was not part of the job",
        "vote without worker id",
        "vote without worker id",
        "vote without item id",
        "malformed label: expected text, got int",
        "malformed worker id: expected text, got list",
        "malformed label: expected text, got list",
    ]
    assert set(rejected.columns) == {"task", "worker", "label", "reason"}


def test_response_without_a_label_field_is_rejected_not_a_crash(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    _job(repo, "j", _items(["a", "b"]), pd.DataFrame({"task": ["a", "b"], "worker": ["w1", "w1"]}))
    result = consolidate_round(loaded, repo, job_name="j", run_id="r", created_at=WHEN)
    assert (result.items, result.votes_in, result.votes_used, result.votes_rejected) == (0, 2, 0, 2)
    assert result.items_without_answer == 2
    rejected = pd.read_parquet(repo.root / result.rejected_path)
    assert sorted(rejected["reason"]) == [NO_ANSWER, NO_ANSWER, "response has no 'label' field",
                                          "response has no 'label' field"]
    assert any("none of its 2 votes was usable" in m for m in result.messages)


def test_job_that_returned_nothing(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    _job(repo, "j", _items(["a", "b", "c"]), pd.DataFrame(columns=["task", "worker", "label"]))
    result = consolidate_round(loaded, repo, job_name="j", run_id="r", created_at=WHEN)
    assert (result.items, result.votes_in, result.votes_used, result.votes_rejected) == (0, 0, 0, 0)
    assert result.items_without_answer == 3 and result.messages == ["job j returned no votes: nothing to consolidate"]
    assert pd.read_parquet(repo.root / result.path).empty
    assert (repo.root / result.output_manifest).read_text() == ""
    assert sorted(pd.read_parquet(repo.root / result.rejected_path)["task"]) == ["a", "b", "c"]


def test_single_answer_workers_and_unanswered_items_get_messages(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    votes = pd.DataFrame(
        [("a", "w1", "pos"), ("a", "w2", "pos"), ("b", "w1", "neg"), ("b", "w2", "neg"), ("b", "once", "pos")],
        columns=["task", "worker", "label"])
    _job(repo, "j", _items(["a", "b", "c"]), votes)
    result = consolidate_round(loaded, repo, job_name="j", run_id="r", created_at=WHEN)
    assert result.items == 2 and result.items_without_answer == 1
    assert any("single answer" in m and "once" in m for m in result.messages)
    assert any("no usable vote" in m and "c" in m for m in result.messages)
    labels = pd.read_parquet(repo.root / result.path).set_index("task")["label"]
    assert labels.to_dict() == {"a": "pos", "b": "neg"}


def test_relabel_round_pools_earlier_votes_but_never_later_ones(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    v = lambda rows: pd.DataFrame(rows, columns=["task", "worker", "label"])  # noqa: E731
    _job(repo, "job-1", _items(["a", "b"]), v([("a", "w1", "pos"), ("a", "w2", "neg"), ("b", "w1", "neu")]))
    consolidate_round(loaded, repo, job_name="job-1", run_id="r1", created_at=WHEN)
    _job(repo, "job-2", _items(["a"], round_=1), v([("a", "w3", "pos"), ("a", "w4", "pos")]))
    second = consolidate_round(loaded, repo, job_name="job-2", run_id="r2", created_at=WHEN)
    row = pd.read_parquet(repo.root / second.path).iloc[0]
    assert (row["task"], row["label"], row["votes"], row["round"]) == ("a", "pos", 4, 1)
    assert list(row["jobs"]) == ["job-1", "job-2"] and list(row["annotators"]) == ["w1", "w2", "w3", "w4"]
    assert second.votes_in == 2  # the job's own votes; earlier ones are context
    # A third round of "a" must not change what job-2 consolidated when job-2 is re-run.
    _job(repo, "job-3", _items(["a"], round_=2), v([("a", "w5", "neg")]))
    log = (repo.root / "changelog.jsonl").read_text()
    consolidate_round(loaded, repo, job_name="job-2", run_id="r2-again", created_at=WHEN)
    assert (repo.root / "changelog.jsonl").read_text() == log


def test_missing_votes_is_a_clear_error(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    with pytest.raises(LabelingError, match="job 'nope' has no votes .* run the labeling round first"):
        consolidate_round(loaded, repo, job_name="nope", run_id="r", created_at=WHEN)


def test_responses_the_backend_could_not_read_are_counted(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    _job(repo, "j", _items(["a"]), pd.DataFrame([("a", "w1", "pos")], columns=["task", "worker", "label"]))
    repo.publish_frame("labels", "sentiment/responses_rejected/j.parquet", pd.DataFrame(
        {"task": ["a", "a"], "worker": ["w2", "w3"], "label": ["", ""], "reason": ["not JSON", "no answer field"],
         "origin": ["x", "y"]}))
    result = consolidate_round(loaded, repo, job_name="j", run_id="r", created_at=WHEN)
    assert (result.responses_rejected, result.votes_in, result.votes_used) == (2, 1, 1)
    assert any("could not read 2 response(s)" in m for m in result.messages)


class _Killed(Exception):
    pass


def _zone_bytes(repo: DataRepository) -> dict[str, bytes]:
    return {p.relative_to(repo.root).as_posix(): p.read_bytes()
            for zone in ("labels", "reports") for p in sorted((repo.root / zone).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_killed_mid_way_the_retry_finishes_the_same_job(reviews_manifest, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, kill_at: int) -> None:
    from datacentric.labeling.quality import check_label_quality

    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    ids = [f"r{i:03d}" for i in range(60)]
    votes, _ = _simulated_votes(ids)
    clean = DataRepository(tmp_path / "clean").init()
    _job(clean, "job-1", _items(ids), votes)
    consolidate_round(loaded, clean, job_name="job-1", run_id="r", created_at=WHEN)
    check_label_quality(loaded, clean, job_name="job-1", run_id="r", created_at=WHEN)

    repo = DataRepository(tmp_path / "killed").init()
    _job(repo, "job-1", _items(ids), votes)
    real, calls = DataRepository.publish_bytes, {"n": 0}

    def dies_on_a_publish(self: DataRepository, *args, **kwargs):  # the task is killed at its n-th publish
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise _Killed
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DataRepository, "publish_bytes", dies_on_a_publish)
    with pytest.raises(_Killed):
        consolidate_round(loaded, repo, job_name="job-1", run_id="r", created_at=WHEN)
    monkeypatch.setattr(DataRepository, "publish_bytes", real)
    assert not any(p.name.endswith(".tmp") for p in repo.root.rglob("*"))  # nothing half-written
    consolidate_round(loaded, repo, job_name="job-1", run_id="r-retry", created_at=WHEN)
    check_label_quality(loaded, repo, job_name="job-1", run_id="r-retry", created_at=WHEN)
    assert _zone_bytes(repo) == _zone_bytes(clean)


def test_round_with_nothing_to_label(reviews_manifest, tmp_path: Path) -> None:
    from datacentric.labeling.quality import check_label_quality

    loaded = parse_manifest(reviews_manifest(LABEL_TASK % "dawid_skene"))
    repo = DataRepository(tmp_path / "repo").init()
    nothing = pd.DataFrame({c: pd.Series(dtype=object) for c in ("task", "text", "round", "reason")})
    _job(repo, "j", nothing, pd.DataFrame({c: pd.Series(dtype=object) for c in ("task", "worker", "label")}))
    result = consolidate_round(loaded, repo, job_name="j", run_id="r", created_at=WHEN)
    assert (result.items, result.votes_in, result.items_without_answer) == (0, 0, 0)
    assert result.messages == ["job j had no items: nothing to consolidate"] and result.rejected_path == ""
    assert check_label_quality(loaded, repo, job_name="j", run_id="r", created_at=WHEN).flagged == 0
