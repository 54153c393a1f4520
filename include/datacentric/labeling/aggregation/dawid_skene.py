"""Dawid-Skene: consolidate votes while learning a confusion matrix for every worker."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from datacentric.labeling.aggregation.majority_vote import (
    EncodedVotes,
    confusion_matrices,
    errors_frame,
    worker_accuracies,
)


@dataclass
class DawidSkene:
    r"""Dawid-Skene consolidation over a long table of votes (task, worker, label).

    Every item i has a hidden true class z_i drawn from the priors p; worker w, shown an item of true
    class j, answers l with probability e_w[j, l] (its confusion matrix). Expectation-maximisation
    alternates two steps, starting from majority vote's vote shares:

    - E-step: P(z_i = j | votes) is proportional to p_j times the product of e_w[j, l] over the
      votes (w, l) on item i;
    - M-step: p_j is the mean of P(z_i = j); e_w[j, l] is proportional to the sum of P(z_i = j) over
      the items where w answered l.

    It stops once an iteration raises the evidence lower bound per vote by less than `tol`, or
    after `n_iter` iterations. Unlike majority vote it learns that a worker who always answers one
    class, or answers at random, carries no information, and that a good worker's answer outweighs
    several poor ones.

    A. P. Dawid and A. M. Skene (1979). Maximum likelihood estimation of observer error-rates using
    the EM algorithm. Journal of the Royal Statistical Society, Series C, 28(1), 20-28.

    The API follows crowd-kit's `DawidSkene`: `fit`, `fit_predict`, `fit_predict_proba`, and the
    fitted state `probas_`, `labels_`, `priors_` and `errors_` in the same layouts.
    """

    classes: list[str] | None = None
    """The category set in order (ties go to the earlier class); None takes the sorted distinct labels."""
    n_iter: int = 100
    """The most EM iterations to run."""
    tol: float = 1e-6
    """Convergence: stop once an iteration raises the evidence lower bound per vote by less than this.
    Tighter than crowd-kit's 1e-5: the last iterations still settle labels on flat likelihoods (seen
    on the benchmark's and the demo's votes), and an iteration here costs a few milliseconds."""
    min_error: float = 1e-10
    """Floor of every expected count before a confusion matrix is normalised, so that an answer a
    worker was never seen giving has a tiny probability instead of zero, and its logarithm is finite."""

    probas_: pd.DataFrame = field(init=False, repr=False)
    """Posterior class probabilities per item: rows are tasks, columns the classes."""
    labels_: pd.Series = field(init=False, repr=False)
    """The most probable class per item."""
    priors_: pd.Series = field(init=False, repr=False)
    """The estimated share of each class among the items."""
    errors_: pd.DataFrame = field(init=False, repr=False)
    """Confusion matrices, crowd-kit's layout: `errors_.loc[(worker, answered), true]` = P(answered | true)."""
    accuracies_: pd.Series = field(init=False, repr=False)
    """Per worker, the expected share of its answers that are right, judged by the posteriors."""
    loss_history_: list[float] = field(init=False, repr=False)
    """The evidence lower bound per vote after each iteration (non-decreasing: EM never makes it worse)."""
    n_iter_: int = field(init=False, repr=False)
    """Iterations run."""
    converged_: bool = field(init=False, repr=False)
    """Whether the tolerance was reached before `n_iter` ran out."""

    def __post_init__(self) -> None:
        if self.n_iter < 0:
            raise ValueError(f"n_iter must be >= 0, got {self.n_iter}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if not 0 < self.min_error < 1:
            raise ValueError(f"min_error must be in (0, 1), got {self.min_error}")

    def fit(self, data: pd.DataFrame) -> DawidSkene:
        encoded = EncodedVotes.from_frame(data, self.classes)
        self.classes = encoded.classes
        k = encoded.n_classes
        self.loss_history_, self.n_iter_, self.converged_ = [], 0, False
        if encoded.n_tasks == 0:
            self._store(encoded, np.zeros((0, k)), np.full(k, 1 / max(k, 1)), np.zeros((0, k, k)))
            return self

        counts = encoded.counts().astype(float)
        probas = counts / counts.sum(axis=1, keepdims=True)
        priors = probas.mean(axis=0)
        soft = encoded.soft_confusion(probas)
        errors = self._normalise(soft)
        n_votes = len(encoded.task)

        # Posteriors are kept class-major, shape (classes, tasks), so that every sum or maximum over
        # the classes is a handful of operations on long rows.
        for _ in range(self.n_iter):
            # E-step in log space: a product of many probabilities below one underflows to zero.
            log_joint = encoded.log_likelihoods(np.log(errors))
            log_joint += np.log(np.maximum(priors, self.min_error))[:, None]
            top = log_joint.max(axis=0)
            log_evidence = top + np.log(np.exp(log_joint - top).sum(axis=0))
            posteriors = np.exp(log_joint - log_evidence)
            # M-step.
            class_mass = posteriors.sum(axis=1)
            priors = class_mass / encoded.n_tasks
            soft = encoded.soft_confusion(posteriors.T)
            errors = self._normalise(soft)
            probas = posteriors.T
            self.loss_history_.append(self._elbo(posteriors, class_mass, priors, soft, errors) / n_votes)
            self.n_iter_ += 1
            if len(self.loss_history_) > 1 and self.loss_history_[-1] - self.loss_history_[-2] < self.tol:
                self.converged_ = True
                break
        self._store(encoded, np.ascontiguousarray(probas), priors, errors)
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        return self.fit(data).probas_

    def confusion_matrix(self, worker: str) -> pd.DataFrame:
        """One worker's confusion matrix: rows the true class, columns its answer, rows sum to 1."""
        classes = list(self.classes or [])
        matrix = confusion_matrices(self.errors_.loc[[worker]], classes)[str(worker)]
        return pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="answered"))

    def _normalise(self, soft: np.ndarray) -> np.ndarray:
        counts = np.maximum(soft, self.min_error)
        return counts / counts.sum(axis=2, keepdims=True)

    def _elbo(
        self, posteriors: np.ndarray, class_mass: np.ndarray, priors: np.ndarray, soft: np.ndarray, errors: np.ndarray
    ) -> float:
        """The evidence lower bound E_q[log p(votes, z)] + H(q) of the posteriors q and the new
        parameters. The votes' part of the expectation is sum(soft * log errors): the soft counts
        already sum the posteriors over each worker's answers."""
        expected = float((soft * np.log(errors)).sum()) + float(class_mass @ np.log(np.maximum(priors, self.min_error)))
        entropy = -float((posteriors * np.log(np.maximum(posteriors, self.min_error))).sum())
        return expected + entropy

    def _store(self, encoded: EncodedVotes, probas: np.ndarray, priors: np.ndarray, errors: np.ndarray) -> None:
        classes = encoded.classes
        self.probas_ = pd.DataFrame(probas, index=encoded.tasks, columns=pd.Index(classes, name="label"))
        winner = np.argmax(probas, axis=1)
        self.labels_ = pd.Series(np.asarray(classes, dtype=object)[winner], index=encoded.tasks, name="label")
        self.priors_ = pd.Series(priors, index=pd.Index(classes, name="label"), name="prior")
        self.errors_ = errors_frame(errors, encoded)
        self.accuracies_ = worker_accuracies(encoded, probas)
