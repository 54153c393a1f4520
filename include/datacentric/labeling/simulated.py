"""A simulated workforce: annotators with known confusion matrices answering from known truth.

For the demo, tests and benchmarks only, and named as such everywhere: its labels come from the
generator's truth file, not from people. Annotator w, shown an item whose true class is j, answers
class l with probability confusion[w][j][l]. The accuracy shorthand a stands for the matrix with a
on the diagonal and the rest spread evenly over the wrong classes; a full matrix describes biased
annotators (one who calls every neutral review positive) or spammers (every row the same).

Votes depend only on (seed, item id, round): a re-run of a round, or the same item in another batch,
gets exactly the same votes, while a relabel round (round 1, 2, ...) of an item draws new annotators
and new answers. The draws are a counter-based hash of those three numbers, so a whole batch is
simulated with array operations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from datacentric.errors import LabelingError

if TYPE_CHECKING:
    from datacentric.manifest.model import LabelTask

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class SimulatedWorkforce:
    """A simulated crowd: `accuracy` gives one annotator each (shorthand), `confusion` replaces the
    shorthand of the annotators it names (by position) with a full matrix, rows = true class."""

    def __init__(
        self,
        classes: Sequence[str],
        accuracy: Sequence[float],
        *,
        confusion: Mapping[int, Sequence[Sequence[float]]] | None = None,
        seed: int = 0,
    ) -> None:
        self.classes = list(classes)
        self.accuracy = [float(a) for a in accuracy]
        self.seed = int(seed)
        k = len(self.classes)
        if k < 2:
            raise LabelingError(f"simulated workforce needs at least two classes, got {self.classes}")
        if not self.accuracy:
            raise LabelingError("simulated workforce needs at least one annotator")
        matrices = []
        for w, a in enumerate(self.accuracy):
            if not 0 <= a <= 1:
                raise LabelingError(f"simulated annotator {w}: accuracy {a} is not between 0 and 1")
            matrices.append(np.full((k, k), (1 - a) / (k - 1)) + np.eye(k) * (a - (1 - a) / (k - 1)))
        for w, matrix in (confusion or {}).items():
            if not 0 <= int(w) < len(self.accuracy):
                raise LabelingError(
                    f"simulated confusion matrix for annotator {w}: there are {len(self.accuracy)} annotators"
                )
            matrices[int(w)] = check_confusion(matrix, self.classes, f"simulated annotator {w}")
        self.matrices = np.stack(matrices)  # (annotators, true class, answer)

    @classmethod
    def for_task(cls, task: LabelTask) -> SimulatedWorkforce:
        """The workforce a label task's `simulation` block describes."""
        sim = task.simulation
        if sim is None:
            raise LabelingError(f"label task {task.name!r} has no simulation block")
        return cls(task.classes, sim.accuracy[: sim.workers], confusion=sim.confusion, seed=sim.seed)

    @property
    def workers(self) -> list[str]:
        return [f"simulated-{i:02d}" for i in range(len(self.accuracy))]

    def annotate(self, items: pd.DataFrame, *, votes_per_item: int) -> pd.DataFrame:
        """Votes for `items` (columns task, truth and optionally round): a long table task, worker, label.

        Each item is answered by `votes_per_item` distinct annotators drawn at random.
        """
        m, k = self.matrices.shape[:2]
        if votes_per_item > m:
            raise LabelingError(f"{votes_per_item} votes per item need as many annotators; the simulation has {m}")
        if votes_per_item < 1:
            raise LabelingError(f"votes per item must be at least 1, got {votes_per_item}")
        truth = pd.Categorical(items["truth"], categories=self.classes).codes.astype(np.int64)
        if (truth < 0).any():
            unknown = sorted(set(items["truth"].astype(str)) - set(self.classes))
            raise LabelingError(f"truth has labels outside the classes {self.classes}: {unknown[:5]}")
        n = len(items)
        keys = np.fromiter((_stable_int(t) for t in items["task"]), dtype=np.uint64, count=n)
        rounds = items["round"].to_numpy(dtype=np.uint64) if "round" in items.columns else np.zeros(n, np.uint64)
        with np.errstate(over="ignore"):
            salt = np.uint64(self.seed % (1 << 64)) * _GOLDEN
        base = _mix(keys ^ _mix(rounds + salt))
        draws = _uniform(base[:, None], np.arange(m + votes_per_item, dtype=np.uint64)[None, :])
        chosen = np.sort(np.argsort(draws[:, :m], axis=1, kind="stable")[:, :votes_per_item], axis=1)
        cumulative = np.cumsum(self.matrices[chosen, truth[:, None], :], axis=-1)  # (items, votes, classes)
        answers = np.minimum((draws[:, m:, None] >= cumulative).sum(axis=-1), k - 1)
        return pd.DataFrame(
            {
                "task": np.repeat(items["task"].to_numpy(dtype=object), votes_per_item),
                "worker": np.asarray(self.workers, dtype=object)[chosen.ravel()],
                "label": np.asarray(self.classes, dtype=object)[answers.ravel()],
            }
        )


def check_confusion(matrix: Sequence[Sequence[float]], classes: Sequence[str], what: str) -> np.ndarray:
    """A K x K matrix of probabilities whose rows (true classes) each sum to one, or a clear error."""
    k = len(classes)
    try:
        array = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        raise LabelingError(f"{what}: confusion matrix is not a table of numbers") from None
    if array.shape != (k, k):
        raise LabelingError(f"{what}: confusion matrix must be {k} x {k} (classes {list(classes)}), got {array.shape}")
    if (array < 0).any() or not np.allclose(array.sum(axis=1), 1, atol=1e-6):
        raise LabelingError(f"{what}: every row of a confusion matrix must be probabilities summing to 1")
    return array


def _stable_int(text: object) -> int:
    return int.from_bytes(hashlib.sha256(str(text).encode()).digest()[:8], "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective scramble of 64-bit integers (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _uniform(base: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) from a per-item key and a draw counter, independent of batch size."""
    with np.errstate(over="ignore"):
        bits = _mix(base + (counter + np.uint64(1)) * _GOLDEN)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
