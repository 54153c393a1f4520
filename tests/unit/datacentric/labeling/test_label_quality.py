"""Label quality: cleanlab on out-of-fold text-model probabilities, flags, the HTML report."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import LabelingError
from datacentric.labeling.quality import check_label_quality, find_label_issues_in_text
from datacentric.labeling.rounds import consolidate_round, select_items
from datacentric.labeling.simulated import SimulatedWorkforce
from datacentric.manifest import parse_manifest
from datacentric.manifest.model import LabelQuality
from datacentric.repository.store import DataRepository

CLASSES = ["neg", "neu", "pos"]
WHEN = datetime(2026, 10, 31, tzinfo=UTC)
PHRASES = {
    "neg": ["broke after two days", "not worth the money", "arrived damaged", "very disappointed", "cheap and flimsy"],
    "neu": ["does what it says", "okay for the price", "nothing special", "average quality", "as described"],
    "pos": ["absolutely love it", "great value", "works perfectly", "highly recommend", "best purchase this year"],
}


def _reviews(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.choice(CLASSES, size=n)
    texts = [", ".join(rng.choice(PHRASES[t], size=2, replace=False)) + "." for t in truth]
    return pd.DataFrame({"task": [f"r{i:04d}" for i in range(n)], "text": texts, "truth": truth})


def test_cleanlab_finds_corrupted_labels() -> None:
    reviews = _reviews(600)
    rng = np.random.default_rng(1)
    corrupted = rng.choice(600, size=40, replace=False)
    labels = reviews["truth"].copy()
    labels.iloc[corrupted] = [CLASSES[(CLASSES.index(t) + 1) % 3] for t in labels.iloc[corrupted]]
    verdict = find_label_issues_in_text(reviews["text"], labels, CLASSES, LabelQuality())
    assert verdict.ran and "5-fold" in verdict.note
    flagged = set(np.flatnonzero(verdict.label_issue))
    wrong = set(corrupted.tolist())
    assert len(flagged & wrong) / len(flagged) >= 0.9, "precision"
    assert len(flagged & wrong) / len(wrong) >= 0.8, "recall"
    # The out-of-fold model says what the text says: it suggests the true class for the corrupted ones.
    assert (verdict.suggested[corrupted] == reviews["truth"].to_numpy()[corrupted]).mean() > 0.9
    assert np.nanmean(verdict.self_confidence[corrupted]) < np.nanmean(np.delete(verdict.self_confidence, corrupted))


def test_cleanlab_check_explains_when_it_does_not_run() -> None:
    reviews = _reviews(50)
    few = find_label_issues_in_text(reviews["text"][:10], reviews["truth"][:10], CLASSES, LabelQuality())
    assert not few.ran and "fewer than min_items=30" in few.note and not few.label_issue.any()
    one_class = find_label_issues_in_text(reviews["text"], ["pos"] * 50, CLASSES, LabelQuality())
    assert not one_class.ran and "same class" in one_class.note
    off = find_label_issues_in_text(reviews["text"], reviews["truth"], CLASSES, LabelQuality(find_label_issues=False))
    assert not off.ran and "switched off" in off.note
    # A class with a single label cannot be scored out of fold: that item is left unjudged.
    labels = reviews["truth"].where(reviews["truth"] != "neu", "pos")
    labels.iloc[0] = "neu"
    lonely = find_label_issues_in_text(reviews["text"], labels, CLASSES, LabelQuality())
    assert lonely.ran and np.isnan(lonely.self_confidence[0]) and not lonely.label_issue[0]


LABEL_TASK = """\
  name: sentiment
  classes: [neg, neu, pos]
  workers_per_item: 3
  budget_per_run: 400
  confidence_threshold: 0.9
  consolidation: dawid_skene
  backend: simulated
  simulation: {truth: truth.csv, workers: 5, seed: 3, accuracy: [0.9, 0.8, 0.7, 0.6, 0.5]}
"""


def _round(reviews_manifest, tmp_path: Path, n: int = 400) -> tuple:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK))
    repo = DataRepository(tmp_path / "repo").init()
    reviews = _reviews(n, seed=3)
    repo.publish_frame("validated", "reviews/data.parquet", reviews.rename(columns={"task": "id"})[["id", "text"]])
    repo.publish_frame("labels", "sentiment/items/job-1.parquet", reviews[["task", "text"]].assign(round=0))
    sim = SimulatedWorkforce(CLASSES, [0.9, 0.8, 0.7, 0.6, 0.5], seed=3)
    repo.publish_frame("labels", "sentiment/votes/job-1.parquet", sim.annotate(reviews, votes_per_item=3))
    consolidate_round(loaded, repo, job_name="job-1", run_id="r1", created_at=WHEN)
    return loaded, repo, reviews.set_index("task")["truth"]


def test_check_flags_items_publishes_a_report_and_feeds_the_next_selection(reviews_manifest, tmp_path: Path) -> None:
    loaded, repo, truth = _round(reviews_manifest, tmp_path)
    result = check_label_quality(loaded, repo, job_name="job-1", run_id="r1", created_at=WHEN)
    labels = pd.read_parquet(repo.path("labels", "sentiment/consolidated/job-1.parquet")).set_index("task")
    assert result.items_checked == 400
    assert result.low_confidence == int((labels["confidence"] < 0.9).sum()) > 0
    flags = pd.read_parquet(repo.root / result.flags_path)
    assert len(flags) == result.flagged and (flags["low_confidence"] | flags["label_issue"]).all()
    assert (flags["label_job"] == "job-1").all()
    issues = flags[flags["label_issue"]]
    assert len(issues) == result.label_issues > 0
    # What cleanlab flags is mostly really wrong: the labels disagree with the simulation's truth.
    assert (issues.set_index("task")["label"] != truth.reindex(issues["task"])).mean() > 0.8

    report = (repo.root / result.report_path).read_text()
    assert result.report_path == "reports/labeling/sentiment/job-1.html"
    assert result.report_uri == (repo.root / result.report_path).resolve().as_uri()
    assert len(re.findall(r"src='data:image/png;base64,", report)) == 4  # accuracy, confusions, histogram, flags
    assert "simulated workforce" in report and "simulated-00" in report
    for task in issues["task"].head(5):
        assert f"<td>{task}</td>" in report
    published = [r.path for r in repo.changelog()]
    assert result.report_path in published and result.flags_path in published

    # A re-run changes nothing; the next selection sends the flagged items back first.
    log = (repo.root / "changelog.jsonl").read_text()
    again = check_label_quality(loaded, repo, job_name="job-1", run_id="r1-retry", created_at=WHEN)
    assert again == result and (repo.root / "changelog.jsonl").read_text() == log
    picked = select_items(loaded, repo).set_index("task")
    assert set(issues["task"]) <= set(picked.index[picked["reason"] == "label_issue"])
    low_only = flags.loc[flags["low_confidence"] & ~flags["label_issue"], "task"]
    assert set(low_only) <= set(picked.index[picked["reason"] == "low_confidence"])
    assert (picked.loc[list(low_only), "round"] == 1).all()


def test_report_of_a_job_that_returned_nothing(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK))
    repo = DataRepository(tmp_path / "repo").init()
    repo.publish_frame("labels", "sentiment/items/job-1.parquet", pd.DataFrame({"task": ["a"], "text": ["x"]}))
    repo.publish_frame("labels", "sentiment/votes/job-1.parquet", pd.DataFrame(columns=["task", "worker", "label"]))
    consolidate_round(loaded, repo, job_name="job-1", run_id="r1", created_at=WHEN)
    result = check_label_quality(loaded, repo, job_name="job-1", run_id="r1", created_at=WHEN)
    assert (result.items_checked, result.flagged) == (0, 0)
    assert result.messages == ["label-error check skipped: 0 labels, fewer than min_items=30"]
    report = (repo.root / result.report_path).read_text()
    assert "item received no usable vote" in report and "<h2>Items sent back for review</h2>\n<p>None.</p>" in report


def test_quality_needs_a_consolidation_first(reviews_manifest, tmp_path: Path) -> None:
    repo = DataRepository(tmp_path / "repo").init()
    with pytest.raises(LabelingError, match="consolidate first"):
        check_label_quality(parse_manifest(reviews_manifest(LABEL_TASK)), repo, job_name="job-9", run_id="r",
                            created_at=WHEN)
