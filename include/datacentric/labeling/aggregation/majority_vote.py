"""Majority vote: each item gets the label most of its workers chose.

This module also holds `EncodedVotes`, the integer form of a long vote table (task, worker, label)
that every consolidation algorithm here works on, so they all run as numpy array operations instead
of Python loops over items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse

from datacentric.errors import LabelingError
from datacentric.labeling.votes import VOTE_COLUMNS


@dataclass(frozen=True, eq=False)
class EncodedVotes:
    """A long vote table as integer codes: vote v is worker `worker[v]` answering `label[v]` on `task[v]`.

    Tasks and workers are numbered in order of first appearance; labels by their position in `classes`.
    """

    tasks: pd.Index
    workers: pd.Index
    classes: list[str]
    task: np.ndarray
    worker: np.ndarray
    label: np.ndarray

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def from_frame(cls, data: pd.DataFrame, classes: Sequence[str] | None = None) -> EncodedVotes:
        """Encode `data` (columns task, worker, label). Labels outside `classes` are an error here:
        `rounds.check_votes` is where bad votes are sorted out, with a reason each."""
        missing = [c for c in VOTE_COLUMNS if c not in data.columns]
        if missing:
            raise LabelingError(
                f"votes need the columns task, worker, label; missing {', '.join(missing)} "
                f"(columns: {', '.join(map(str, data.columns))})"
            )
        if classes is None:
            classes = sorted(pd.unique(data["label"].dropna()).tolist())
        classes = list(classes)
        task_codes, tasks = pd.factorize(data["task"], sort=False)
        worker_codes, workers = pd.factorize(data["worker"], sort=False)
        label_codes = pd.Categorical(data["label"], categories=classes).codes.astype(np.int64)
        bad = (label_codes < 0) | (task_codes < 0) | (worker_codes < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise LabelingError(
                f"{int(bad.sum())} vote(s) have no task or worker, or a label outside the classes {classes}; "
                f"first at row {row}: {data.iloc[row][list(VOTE_COLUMNS)].to_dict()}"
            )
        return cls(
            tasks=pd.Index(tasks, name="task"),
            workers=pd.Index(workers, name="worker"),
            classes=classes,
            task=task_codes.astype(np.int64),
            worker=worker_codes.astype(np.int64),
            label=label_codes,
        )

    def counts(self) -> np.ndarray:
        """Votes per task and class, shape (tasks, classes)."""
        k = self.n_classes
        return np.bincount(self.task * k + self.label, minlength=self.n_tasks * k).reshape(self.n_tasks, k)

    @cached_property
    def answers(self) -> sparse.csr_matrix:
        """Tasks x (worker, answer) incidence matrix: entry [i, w * classes + l] counts the votes of
        worker w answering l on task i. Sums over votes become sparse matrix products."""
        k = self.n_classes
        shape = (self.n_tasks, self.n_workers * k)
        return sparse.csr_matrix((np.ones(len(self.task)), (self.task, self.worker * k + self.label)), shape=shape)

    @cached_property
    def answers_t(self) -> sparse.csr_matrix:
        return self.answers.T.tocsr()

    def soft_confusion(self, probas: np.ndarray) -> np.ndarray:
        """Expected counts per worker, true class and answer: shape (workers, classes, classes).

        `out[w, j, l]` sums, over the votes where worker w answered l, the probability that the
        task's true class is j. With one-hot `probas` it is each worker's plain confusion matrix.
        """
        k = self.n_classes
        flat = self.answers_t @ np.ascontiguousarray(probas)  # ((worker, answer), true class)
        return np.asarray(flat).reshape(self.n_workers, k, k).transpose(0, 2, 1)

    def log_likelihoods(self, log_errors: np.ndarray) -> np.ndarray:
        """Per true class j and task i, the sum over the votes (w, l) on i of log_errors[w, j, l].

        Shape (classes, tasks), class-major: reductions over the few classes then run along long
        contiguous rows, many times faster than along a short trailing axis.
        """
        k = self.n_classes
        per_task = self.answers @ log_errors.transpose(0, 2, 1).reshape(self.n_workers * k, k)
        return np.ascontiguousarray(np.asarray(per_task).T)

    def worker_votes(self) -> np.ndarray:
        return np.bincount(self.worker, minlength=self.n_workers)


def worker_accuracies(encoded: EncodedVotes, probas: np.ndarray) -> pd.Series:
    """The expected share of each worker's answers that are right, judged by the items' posteriors."""
    right = np.bincount(encoded.worker, weights=probas[encoded.task, encoded.label], minlength=encoded.n_workers)
    return pd.Series(right / np.maximum(encoded.worker_votes(), 1), index=encoded.workers, name="accuracy")


def errors_frame(confusion: np.ndarray, encoded: EncodedVotes) -> pd.DataFrame:
    """Per-worker confusion matrices in crowd-kit's layout: rows (worker, answered label), columns the
    true label, so `errors_.loc[(worker, answered), true]` is P(answered | true)."""
    k, m = encoded.n_classes, encoded.n_workers
    index = pd.MultiIndex.from_product([encoded.workers, encoded.classes], names=["worker", "label"])
    return pd.DataFrame(confusion.transpose(0, 2, 1).reshape(m * k, k), index=index, columns=list(encoded.classes))


def confusion_matrices(errors: pd.DataFrame, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """`errors_` back to one matrix per worker with rows = true class and columns = answer."""
    k = len(classes)
    values = errors.reindex(columns=list(classes)).to_numpy().reshape(-1, k, k).transpose(0, 2, 1)
    workers = errors.index.get_level_values("worker")[::k]
    return {str(w): values[i] for i, w in enumerate(workers)}


@dataclass
class MajorityVote:
    """Majority vote over a long table of votes (task, worker, label).

    Ties are broken by the order of `classes` (the first class wins), so the result does not depend
    on the order of the votes. The confidence of an item is the share of its votes for the winner.
    Each worker's confusion matrix and accuracy are measured against the winning labels.
    """

    classes: list[str] | None = None
    """The category set in order; None takes the sorted distinct labels of the data."""

    probas_: pd.DataFrame = field(init=False, repr=False)
    labels_: pd.Series = field(init=False, repr=False)
    errors_: pd.DataFrame = field(init=False, repr=False)
    accuracies_: pd.Series = field(init=False, repr=False)

    def fit(self, data: pd.DataFrame) -> MajorityVote:
        encoded = EncodedVotes.from_frame(data, self.classes)
        self.classes = encoded.classes
        counts = encoded.counts().astype(float)
        probas = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        winner = np.argmax(counts, axis=1)  # argmax takes the first maximum: the tie rule
        self.probas_ = pd.DataFrame(probas, index=encoded.tasks, columns=encoded.classes)
        self.probas_.columns.name = "label"
        self.labels_ = pd.Series(np.asarray(encoded.classes, dtype=object)[winner], index=encoded.tasks, name="label")
        one_hot = np.eye(encoded.n_classes)[winner] if encoded.n_tasks else np.zeros((0, encoded.n_classes))
        confusion = encoded.soft_confusion(one_hot)
        totals = confusion.sum(axis=2, keepdims=True)
        uniform = np.full_like(confusion, 1 / max(encoded.n_classes, 1))  # a worker with no votes on a class
        confusion = np.divide(confusion, totals, out=uniform, where=totals > 0)
        self.errors_ = errors_frame(confusion, encoded)
        self.accuracies_ = worker_accuracies(encoded, one_hot)
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        return self.fit(data).probas_
