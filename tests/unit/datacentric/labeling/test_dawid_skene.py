"""Dawid-Skene: one EM step by hand, a loop-by-loop oracle, mixed-quality crowds, edge cases."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import LabelingError
from datacentric.labeling.aggregation.dawid_skene import DawidSkene
from datacentric.labeling.aggregation.majority_vote import MajorityVote
from datacentric.labeling.simulated import SimulatedWorkforce


def _votes(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


# Two classes a, b; two workers. t3 splits the workers; t4 has a single vote.
HAND = _votes([
    ("t1", "w1", "a"), ("t1", "w2", "a"),
    ("t2", "w1", "b"), ("t2", "w2", "b"),
    ("t3", "w1", "a"), ("t3", "w2", "b"),
    ("t4", "w1", "a"),
])


def test_one_em_step_by_hand() -> None:
    """Derived on paper:

    majority vote shares T0: t1 (1, 0), t2 (0, 1), t3 (1/2, 1/2), t4 (1, 0); priors (5/8, 3/8).
    M-step (rows true class, columns answer, rows normalised):
      w1 true a: answered a with weight 1 + 1/2 + 1 = 5/2, b with 0          -> (1, 0)
      w1 true b: answered a with weight 1/2, b with 1                         -> (1/3, 2/3)
      w2 true a: answered a with 1, b with 1/2                                -> (2/3, 1/3)
      w2 true b: answered a with 0, b with 1 + 1/2                            -> (0, 1)
    E-step:
      t3 (w1 a, w2 b): a 5/8 * 1 * 1/3 = 5/24, b 3/8 * 1/3 * 1 = 3/24        -> (5/8, 3/8)
      t4 (w1 a):       a 5/8 * 1 = 5/8,        b 3/8 * 1/3 = 1/8              -> (5/6, 1/6)
      t1 -> (1, 0) and t2 -> (0, 1) (a zero in the confusion matrices)
    priors after the step: a (1 + 0 + 5/8 + 5/6) / 4 = 59/96.
    M-step again, w1 true b: answered a with 3/8 + 1/6 = 13/24, b with 1     -> (13/37, 24/37)
    w1's accuracy: (1 + 1 + 5/8 + 5/6) / 4 = 83/96.
    """
    ds = DawidSkene(["a", "b"], n_iter=1).fit(HAND)
    p = ds.probas_
    assert p.loc["t3", "a"] == pytest.approx(5 / 8, abs=1e-9)
    assert p.loc["t4", "a"] == pytest.approx(5 / 6, abs=1e-9)
    assert p.loc["t1", "a"] == pytest.approx(1, abs=1e-9) and p.loc["t2", "b"] == pytest.approx(1, abs=1e-9)
    assert ds.labels_.to_dict() == {"t1": "a", "t2": "b", "t3": "a", "t4": "a"}
    assert ds.priors_["a"] == pytest.approx(59 / 96, abs=1e-9)
    assert ds.errors_.loc[("w1", "a"), "b"] == pytest.approx(13 / 37, abs=1e-9)
    assert ds.confusion_matrix("w1").loc["b", "b"] == pytest.approx(24 / 37, abs=1e-9)
    assert ds.accuracies_["w1"] == pytest.approx(83 / 96, abs=1e-9)
    assert ds.n_iter_ == 1


def _oracle(votes: pd.DataFrame, classes: list[str], n_iter: int, floor: float = 1e-10) -> dict[str, list[float]]:
    """Dawid-Skene written the slow way, with dictionaries and loops, as the paper states it."""
    by_task: dict[str, list[tuple[str, str]]] = {}
    for t, w, lab in votes.itertuples(index=False):
        by_task.setdefault(t, []).append((w, lab))
    workers = sorted(set(votes["worker"]))
    post = {t: [sum(1 for _, lab in vs if lab == c) / len(vs) for c in classes] for t, vs in by_task.items()}

    def m_step(post: dict[str, list[float]]) -> tuple[list[float], dict]:
        priors = [sum(p[j] for p in post.values()) / len(post) for j in range(len(classes))]
        counts = {(w, j, lab): 0.0 for w, j, lab in product(workers, range(len(classes)), classes)}
        for t, vs in by_task.items():
            for w, lab in vs:
                for j in range(len(classes)):
                    counts[(w, j, lab)] += post[t][j]
        errors = {}
        for w, j in product(workers, range(len(classes))):
            row = [max(counts[(w, j, lab)], floor) for lab in classes]
            for lab, value in zip(classes, row, strict=True):
                errors[(w, j, lab)] = value / sum(row)
        return priors, errors

    priors, errors = m_step(post)
    for _ in range(n_iter):
        new = {}
        for t, vs in by_task.items():
            joint = [priors[j] * math.prod(errors[(w, j, lab)] for w, lab in vs) for j in range(len(classes))]
            new[t] = [x / sum(joint) for x in joint]
        post = new
        priors, errors = m_step(post)
    return post


def test_agrees_with_a_loop_oracle_on_random_crowds() -> None:
    rng = np.random.default_rng(11)
    classes = ["x", "y", "z"]
    rows = []
    for i in range(40):
        for w in rng.choice(6, size=int(rng.integers(1, 5)), replace=False):
            rows.append((f"t{i}", f"w{w}", classes[int(rng.integers(3))]))
    votes = _votes(rows)
    for n_iter in (1, 2, 7):
        expected = _oracle(votes, classes, n_iter)
        got = DawidSkene(classes, n_iter=n_iter, tol=0).fit(votes).probas_
        for task, probs in expected.items():
            np.testing.assert_allclose(got.loc[task].to_numpy(), probs, atol=1e-9, err_msg=f"{task} after {n_iter}")


def _crowd(
    accuracy: list[float], confusion: dict, n: int, votes_per_item: int, seed: int
) -> tuple[pd.DataFrame, pd.Series]:
    classes = ["a", "b", "c"]
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({"task": [f"i{k:05d}" for k in range(n)], "truth": rng.choice(classes, n, p=[0.5, 0.3, 0.2])})
    sim = SimulatedWorkforce(classes, accuracy, confusion=confusion, seed=seed)
    return sim.annotate(items, votes_per_item=votes_per_item), items.set_index("task")["truth"]


def test_beats_majority_vote_with_two_good_workers_and_three_spammers() -> None:
    # Two good annotators; three spammers: one answers at random, two always answer "a".
    always_a = [[1, 0, 0]] * 3
    votes, truth = _crowd([0.85, 0.85, 1 / 3, 0.5, 0.5], {3: always_a, 4: always_a}, n=2000, votes_per_item=5, seed=4)
    ds = DawidSkene(["a", "b", "c"]).fit(votes)
    mv = MajorityVote(["a", "b", "c"]).fit(votes)
    acc_ds = (ds.labels_.reindex(truth.index) == truth).mean()
    acc_mv = (mv.labels_.reindex(truth.index) == truth).mean()
    assert acc_ds > acc_mv + 0.1, (acc_ds, acc_mv)
    assert acc_ds > 0.85
    # It recognises who is who: good workers' accuracy estimates near 0.85, spammers' far below.
    estimated = ds.accuracies_
    assert estimated["simulated-00"] == pytest.approx(0.85, abs=0.05)
    assert max(estimated[["simulated-02", "simulated-03", "simulated-04"]]) < 0.6
    # An always-"a" spammer's learned confusion matrix: whatever the truth, the answer is "a".
    assert (ds.confusion_matrix("simulated-03")["a"] > 0.95).all()
    assert ds.converged_ and all(np.diff(ds.loss_history_) >= -1e-12)


def test_beats_majority_vote_with_three_votes_of_mixed_quality() -> None:
    votes, truth = _crowd([0.95, 0.9, 0.6, 0.5, 0.45, 0.4], {}, n=3000, votes_per_item=3, seed=9)
    acc_ds = (DawidSkene(["a", "b", "c"]).fit_predict(votes).reindex(truth.index) == truth).mean()
    acc_mv = (MajorityVote(["a", "b", "c"]).fit_predict(votes).reindex(truth.index) == truth).mean()
    assert acc_ds > acc_mv, (acc_ds, acc_mv)


def test_deterministic_and_independent_of_vote_order() -> None:
    votes, _ = _crowd([0.9, 0.7, 0.5, 0.4], {}, n=500, votes_per_item=3, seed=2)
    first = DawidSkene(["a", "b", "c"]).fit_predict_proba(votes)
    again = DawidSkene(["a", "b", "c"]).fit_predict_proba(votes)
    pd.testing.assert_frame_equal(first, again)
    shuffled = DawidSkene(["a", "b", "c"]).fit_predict_proba(votes.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(shuffled.loc[first.index], first, atol=1e-9, rtol=0)


def test_fitted_state_has_crowd_kit_layouts() -> None:
    ds = DawidSkene().fit(HAND)  # classes from the data, sorted
    assert ds.classes == ["a", "b"]
    assert ds.errors_.index.names == ["worker", "label"] and list(ds.errors_.columns) == ["a", "b"]
    # For every worker and true class, the answers' probabilities sum to one.
    np.testing.assert_allclose(ds.errors_.groupby(level="worker").sum().to_numpy(), 1)
    np.testing.assert_allclose(ds.probas_.sum(axis=1), 1)
    assert ds.priors_.sum() == pytest.approx(1)
    assert (ds.labels_ == ds.probas_.idxmax(axis=1)).all()


def test_edge_cases_never_crash() -> None:
    empty = DawidSkene(["a", "b"]).fit(HAND.iloc[:0])
    assert empty.probas_.empty and empty.labels_.empty and list(empty.probas_.columns) == ["a", "b"]
    single = DawidSkene(["a", "b"]).fit(_votes([("t1", "w1", "b")]))
    assert single.labels_.to_dict() == {"t1": "b"}
    # A worker with one answer does not sway an item its peers agree on.
    votes = pd.concat([HAND, _votes([("t2", "w9", "a")])], ignore_index=True)
    assert DawidSkene(["a", "b"]).fit_predict(votes)["t2"] == "b"
    with pytest.raises(LabelingError, match="outside the classes"):
        DawidSkene(["a", "b"]).fit(_votes([("t1", "w1", "c")]))
    with pytest.raises(ValueError, match="n_iter"):
        DawidSkene(n_iter=-1)
