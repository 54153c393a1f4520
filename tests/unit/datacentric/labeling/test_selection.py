"""Selection of the items a round sends out, and the simulated workforce that answers them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import LabelingError, ManifestError
from datacentric.labeling.selection import current_labels, select_for_labeling
from datacentric.labeling.simulated import SimulatedWorkforce
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository

CLASSES = ["neg", "neu", "pos"]

LABEL_TASK = """\
  name: sentiment
  classes: [neg, neu, pos]
  budget_per_run: %(budget)d
  confidence_threshold: 0.8
  consolidation: dawid_skene
  selection: %(selection)s
  backend: simulated
  simulation: {truth: truth.csv, workers: 3, accuracy: [0.9, 0.8, 0.7]}
"""


@pytest.fixture
def label_task(reviews_manifest):
    """The label task with the given budget and selection rules, parsed."""

    def parse(budget: int = 100, selection: str = "{}"):
        return parse_manifest(reviews_manifest(LABEL_TASK % {"budget": budget, "selection": selection})).spec.label_task

    return parse


def _items(n: int) -> pd.DataFrame:
    return pd.DataFrame({"task": [f"r{i:02d}" for i in range(n)], "text": [f"text {i}" for i in range(n)]})


def _labeled(repo: DataRepository, job: str, rows: list[tuple[str, str, float]], at: str, round_: int = 0) -> None:
    """A round as the labels zone records it: items sent out, consolidated labels."""
    tasks = [r[0] for r in rows]
    repo.publish_frame("labels", f"sentiment/items/{job}.parquet",
                       pd.DataFrame({"task": tasks, "text": "t", "round": round_}))
    repo.publish_frame("labels", f"sentiment/consolidated/{job}.parquet", pd.DataFrame({
        "task": tasks, "label": [r[1] for r in rows], "confidence": [r[2] for r in rows],
        "job_name": job, "consolidated_at": at,
    }))


def _flag(repo: DataRepository, job: str, rows: list[tuple[str, str, float]]) -> None:
    """What the label-quality check records: items it judged likely label errors, and for which label."""
    repo.publish_frame("labels", f"sentiment/quality/{job}.parquet", pd.DataFrame({
        "task": [r[0] for r in rows], "label_job": [r[1] for r in rows], "label_issue": True,
        "low_confidence": False, "self_confidence": [r[2] for r in rows],
    }))


def test_unlabeled_items_first_by_id_within_budget(label_task, tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    picked = select_for_labeling(_items(10).iloc[::-1], repo, label_task(budget=4))
    assert picked["task"].tolist() == ["r00", "r01", "r02", "r03"]
    assert (picked["reason"] == "unlabeled").all() and (picked["round"] == 0).all()
    assert list(picked.columns) == ["task", "text", "round", "reason"]
    assert len(select_for_labeling(_items(10), repo, label_task(budget=4), limit=7)) == 7


def test_priority_label_issues_then_low_confidence_then_unlabeled(label_task, tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    _labeled(repo, "job-1", [("r00", "pos", 0.99), ("r01", "neg", 0.55), ("r02", "neu", 0.75),
                             ("r03", "pos", 0.95), ("r04", "pos", 0.9)], at="2026-10-01T00:00:00+00:00")
    _flag(repo, "job-1", [("r03", "job-1", 0.2), ("r04", "job-1", 0.05)])
    picked = select_for_labeling(_items(8), repo, label_task(budget=6))
    assert picked[["task", "reason"]].values.tolist() == [
        ["r04", "label_issue"], ["r03", "label_issue"],      # lowest cleanlab self-confidence first
        ["r01", "low_confidence"], ["r02", "low_confidence"],  # lowest consolidated confidence first
        ["r05", "unlabeled"], ["r06", "unlabeled"],
    ]
    assert (picked.set_index("task").loc[["r04", "r01"], "round"] == 1).all()
    # Another order, and a rule left out is off.
    picked = select_for_labeling(_items(8), repo,
                                 label_task(budget=10, selection="{rules: [unlabeled, low_confidence]}"))
    assert picked["reason"].tolist() == ["unlabeled"] * 3 + ["low_confidence"] * 2


def test_a_flag_is_spent_once_the_item_is_relabeled(label_task, tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    _labeled(repo, "job-1", [("r00", "pos", 0.99), ("r01", "pos", 0.99)], at="2026-10-01T00:00:00+00:00")
    _flag(repo, "job-1", [("r00", "job-1", 0.1), ("r01", "job-1", 0.1)])
    _labeled(repo, "job-2", [("r00", "neg", 0.97)], at="2026-10-02T00:00:00+00:00", round_=1)
    picked = select_for_labeling(_items(2), repo, label_task(budget=10))
    assert picked[["task", "reason", "round"]].values.tolist() == [["r01", "label_issue", 1]]
    current = current_labels(repo, "sentiment").set_index("task")
    assert current.loc["r00", ["label", "job_name", "rounds"]].tolist() == ["neg", "job-2", 2]
    before = current_labels(repo, "sentiment", as_of="2026-10-01T00:00:00+00:00").set_index("task")
    assert before.loc["r00", "label"] == "pos"


def test_an_item_is_sent_out_at_most_max_rounds(label_task, tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    _labeled(repo, "job-1", [("r00", "pos", 0.4)], at="2026-10-01T00:00:00+00:00")
    _labeled(repo, "job-2", [("r00", "pos", 0.5)], at="2026-10-02T00:00:00+00:00", round_=1)
    picked = select_for_labeling(_items(1), repo, label_task(selection="{max_rounds_per_item: 3}"))
    assert picked["round"].tolist() == [2]
    assert select_for_labeling(_items(1), repo, label_task(selection="{max_rounds_per_item: 2}")).empty


def test_items_sent_but_never_answered_are_selected_again(label_task, tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    repo.publish_frame("labels", "sentiment/items/job-1.parquet", _items(2).assign(round=0))
    picked = select_for_labeling(_items(2), repo, label_task())
    assert picked[["task", "reason", "round"]].values.tolist() == [["r00", "unlabeled", 1], ["r01", "unlabeled", 1]]


def test_selection_rules_are_validated_in_the_manifest(label_task) -> None:
    with pytest.raises(ManifestError, match="selection.rules"):
        label_task(selection="{rules: [unlabeled, whatever]}")
    with pytest.raises(ManifestError, match="each rule may appear once"):
        label_task(selection="{rules: [unlabeled, unlabeled]}")


# -- the simulated workforce ------------------------------------------------------------------------

def _truth(n: int) -> pd.DataFrame:
    return pd.DataFrame({"task": [f"i{i}" for i in range(n)], "truth": np.resize(CLASSES, n)})


def test_simulation_confusion_matrices_shape_the_answers() -> None:
    biased = [[0.0, 0.0, 1.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]
    sim = SimulatedWorkforce(CLASSES, [0.9, 0.5], confusion={1: biased}, seed=5)
    votes = sim.annotate(_truth(3000), votes_per_item=2).merge(_truth(3000), on="task")
    mine = votes[votes["worker"] == "simulated-01"]
    observed = pd.crosstab(mine["truth"], mine["label"], normalize="index").reindex(
        index=CLASSES, columns=CLASSES, fill_value=0)
    np.testing.assert_allclose(observed.to_numpy(), biased, atol=0.04)
    good = votes[votes["worker"] == "simulated-00"]
    assert (good["label"] == good["truth"]).mean() == pytest.approx(0.9, abs=0.02)
    # The accuracy shorthand spreads the errors evenly over the wrong classes.
    wrong = good[good["label"] != good["truth"]]
    spread = pd.crosstab(wrong["truth"], wrong["label"]).reindex(index=CLASSES, columns=CLASSES).to_numpy()
    off_diagonal = spread[~np.eye(3, dtype=bool)]
    assert off_diagonal.min() > 0.5 * off_diagonal.mean()


def test_relabel_rounds_draw_new_votes_and_reruns_the_same_ones() -> None:
    sim = SimulatedWorkforce(CLASSES, [0.7, 0.6, 0.6, 0.5, 0.5], seed=2)
    first = sim.annotate(_truth(200), votes_per_item=3)
    assert first.equals(sim.annotate(_truth(200), votes_per_item=3))
    relabel = sim.annotate(_truth(200).assign(round=1), votes_per_item=3)
    assert not relabel.equals(first)
    assert relabel.equals(sim.annotate(_truth(200).assign(round=1), votes_per_item=3))
    # Every item gets distinct annotators.
    assert not first.duplicated(["task", "worker"]).any()


def test_bad_simulation_settings_are_clear_errors(reviews_manifest) -> None:
    with pytest.raises(LabelingError, match="annotator 1: confusion matrix must be 3 x 3"):
        SimulatedWorkforce(CLASSES, [0.9, 0.9], confusion={1: [[1, 0], [0, 1]]})
    with pytest.raises(LabelingError, match="summing to 1"):
        SimulatedWorkforce(CLASSES, [0.9], confusion={0: [[0.5, 0.5, 0.5]] * 3})
    with pytest.raises(LabelingError, match="need as many annotators"):
        SimulatedWorkforce(CLASSES, [0.9]).annotate(_truth(3), votes_per_item=2)
    bad = (reviews_manifest(LABEL_TASK % {"budget": 1, "selection": "{}"})).replace(
        "accuracy: [0.9, 0.8, 0.7]}", "accuracy: [0.9, 0.8, 0.7], confusion: {1: [[1, 0], [0, 1]]}}")
    with pytest.raises(ManifestError, match=r"simulation.confusion.1: must be 3 x 3"):
        parse_manifest(bad)
    short = (reviews_manifest(LABEL_TASK % {"budget": 1, "selection": "{}"})).replace("workers: 3", "workers: 4")
    with pytest.raises(ManifestError, match="accuracy lists 3 annotators; workers is 4"):
        parse_manifest(short)
