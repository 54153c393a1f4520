from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import LabelingError
from datacentric.labeling.aggregation.majority_vote import MajorityVote
from datacentric.labeling.rounds import check_votes, consolidate_round, job_name_for, run_round, select_items
from datacentric.labeling.simulated import SimulatedWorkforce
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository

CLASSES = ["neg", "neu", "pos"]


def test_majority_vote_by_hand() -> None:
    votes = pd.DataFrame(
        [("a", "w1", "pos"), ("a", "w2", "pos"), ("a", "w3", "neg"),
         ("b", "w1", "neu"), ("b", "w2", "neg"),  # tie: first class in order wins
         ("c", "w1", "neg")],
        columns=["task", "worker", "label"],
    )
    mv = MajorityVote(CLASSES).fit(votes)
    assert mv.labels_.to_dict() == {"a": "pos", "b": "neg", "c": "neg"}
    assert mv.probas_.loc["a", "pos"] == pytest.approx(2 / 3)
    assert mv.probas_.loc["b"].tolist() == [0.5, 0.5, 0.0]


def test_simulated_workforce_is_deterministic_and_near_its_accuracy() -> None:
    items = pd.DataFrame({"task": [f"i{i}" for i in range(3000)], "truth": np.resize(CLASSES, 3000)})
    sim = SimulatedWorkforce(CLASSES, [0.9, 0.8, 0.7], seed=1)
    votes = sim.annotate(items, votes_per_item=3)
    assert votes.equals(sim.annotate(items, votes_per_item=3))
    # The same item gets the same votes whatever batch it is in.
    part = sim.annotate(items.iloc[10:20], votes_per_item=3)
    assert part.equals(votes[votes["task"].isin(items["task"].iloc[10:20])].reset_index(drop=True))
    merged = votes.merge(items, on="task")
    acc = (merged["label"] == merged["truth"]).groupby(merged["worker"]).mean()
    assert acc["simulated-00"] == pytest.approx(0.9, abs=0.03)
    assert acc["simulated-02"] == pytest.approx(0.7, abs=0.03)
    mv = MajorityVote(CLASSES).fit(votes)
    assert (mv.labels_.reindex(items["task"]).values == items["truth"].values).mean() > 0.85


def test_bad_votes_are_rejected_with_reasons() -> None:
    items = pd.DataFrame({"task": ["a", "b"], "text": ["x", "y"]})
    votes = pd.DataFrame(
        [("a", "w1", "pos"), ("a", "w1", "neg"), ("a", "w2", "great"), ("zzz", "w1", "pos"), ("b", None, "pos")],
        columns=["task", "worker", "label"],
    )
    used, rejected = check_votes(votes, items, CLASSES)
    assert len(used) + len(rejected) == len(votes) and len(used) == 1
    assert sorted(rejected["reason"].str.split(" ").str[0]) == ["item", "label", "second", "vote"]


LABEL_TASK = """\
  name: sentiment
  classes: [neg, neu, pos]
  workers_per_item: 3
  budget_per_run: 40
  backend: simulated
  simulation: {truth: truth.csv, workers: 5, accuracy: [0.9, 0.9, 0.8, 0.7, 0.6], seed: 3}
"""


def test_round_is_idempotent_and_consolidates(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK))
    repo = DataRepository(tmp_path / "repo").init()
    ids = [f"r{i:03d}" for i in range(100)]
    repo.publish_frame("validated", "reviews/data.parquet", pd.DataFrame({"id": ids, "text": ["t"] * 100}))
    landing = tmp_path / "landing"
    landing.mkdir()
    pd.DataFrame({"id": ids, "label": np.resize(CLASSES, 100)}).to_csv(landing / "truth.csv", index=False)
    job = job_name_for("sentiment", "20261031T000000Z")
    assert job == "sentiment-20261031t000000z"
    first = run_round(loaded, repo, landing_root=landing, job_name=job, run_id="r1")
    second = run_round(loaded, repo, landing_root=landing, job_name=job, run_id="r1-retry")
    assert (first.items, first.votes, first.reused, second.reused) == (40, 120, False, True)
    when = datetime(2026, 10, 31, tzinfo=UTC)
    result = consolidate_round(loaded, repo, job_name=job, run_id="r1", created_at=when)
    assert result.votes_in == result.votes_used + result.votes_rejected == 120
    labels = pd.read_parquet(repo.path("labels", result.path.removeprefix("labels/")))
    assert len(labels) == 40 and labels["confidence"].between(1 / 3, 1).all()
    # agreement: the share of each item's votes that gave its label, from the votes themselves.
    votes = pd.read_parquet(repo.path("labels", f"sentiment/votes/{job}.parquet"))
    shares = votes.merge(labels[["task", "label"]], on="task", suffixes=("", "_chosen"))
    expected = (shares["label"] == shares["label_chosen"]).groupby(shares["task"]).mean()
    assert labels.set_index("task")["agreement"].to_dict() == pytest.approx(expected.to_dict())
    before = repo.path("labels", result.output_manifest.removeprefix("labels/")).read_bytes()
    consolidate_round(loaded, repo, job_name=job, run_id="r2", created_at=when)
    assert repo.path("labels", result.output_manifest.removeprefix("labels/")).read_bytes() == before
    line = json.loads(before.splitlines()[0])
    meta = line["sentiment-metadata"]
    assert set(meta) == {"class-name", "confidence", "type", "job-name", "human-annotated", "creation-date"}
    assert meta["type"] == "groundtruth/text-classification" and line["sentiment"] == CLASSES.index(meta["class-name"])
    # Confidently labeled items are not selected again; those under the threshold go to a relabel round.
    again = select_items(loaded, repo)
    low = (labels["confidence"] < loaded.spec.label_task.confidence_threshold) | (labels["agreement"] <= 0.5)
    assert len(again) == 40 and not set(again["task"]) & set(labels.loc[~low, "task"])
    assert set(again.loc[again["reason"] == "low_confidence", "task"]) == set(labels.loc[low, "task"])


def test_missing_truth_is_a_clear_error(reviews_manifest, tmp_path: Path) -> None:
    loaded = parse_manifest(reviews_manifest(LABEL_TASK))
    repo = DataRepository(tmp_path / "repo").init()
    repo.publish_frame("validated", "reviews/data.parquet", pd.DataFrame({"id": ["a"], "text": ["t"]}))
    with pytest.raises(LabelingError, match="truth file .* not found"):
        run_round(loaded, repo, landing_root=tmp_path, job_name="j", run_id="r")


def test_an_item_whose_votes_all_disagree_is_relabeled_however_sure_the_model_is(
    reviews_manifest, tmp_path: Path
) -> None:
    """Workers who agree on every other item disagree on X, each with a class: Dawid-Skene gives X the
    class nobody else uses at confidence 1.0 (a degenerate but likely fit); no majority of the votes
    backs it, so the next round sends X again."""
    from datacentric.labeling.aggregation.dawid_skene import DawidSkene

    votes = [(f"t{i}", w, ["neg", "neu"][i % 2]) for i in range(100) for w in ("w1", "w2", "w3")]
    votes += [("X", "w1", "neg"), ("X", "w2", "neu"), ("X", "w3", "pos")]
    frame = pd.DataFrame(votes, columns=["task", "worker", "label"])
    model = DawidSkene(CLASSES).fit(frame)
    assert model.labels_["X"] == "pos" and model.probas_.loc["X"].max() > 0.999

    loaded = parse_manifest(reviews_manifest(LABEL_TASK))
    repo = DataRepository(tmp_path / "repo").init()
    ids = ["X", "Y", *[f"t{i}" for i in range(3)]]
    repo.publish_frame("validated", "reviews/data.parquet", pd.DataFrame({"id": ids, "text": ["t"] * len(ids)}))
    repo.publish_frame("labels", "sentiment/consolidated/j1.parquet", pd.DataFrame({
        "task": ids, "label": ["pos", "neg", "neg", "neu", "neg"], "confidence": [1.0, 0.99, 0.99, 0.99, 0.99],
        "agreement": [1 / 3, 2 / 3, 1.0, 1.0, 1.0], "votes": [3, 3, 3, 3, 3], "job_name": ["j1"] * len(ids),
        "consolidated_at": ["2026-10-31T00:00:00+00:00"] * len(ids)}))
    selected = select_items(loaded, repo)
    assert selected.loc[selected["reason"] == "low_confidence", "task"].tolist() == ["X"]
