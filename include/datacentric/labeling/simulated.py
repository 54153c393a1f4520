"""A simulated workforce: annotators with known accuracy answering from known truth.

For the demo, tests and benchmarks only, and named as such everywhere: its labels come from the
generator's truth file, not from people. Each annotator answers the true class with its accuracy and
a uniformly chosen wrong class otherwise. Votes depend only on (seed, item id), so a re-run of a
round, or the same item in another batch, gets exactly the same votes.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from datacentric.errors import LabelingError


class SimulatedWorkforce:
    def __init__(self, classes: list[str], accuracy: list[float], *, seed: int = 0) -> None:
        if not accuracy:
            raise LabelingError("simulated workforce needs at least one annotator")
        self.classes = list(classes)
        self.accuracy = list(accuracy)
        self.seed = seed

    @property
    def workers(self) -> list[str]:
        return [f"simulated-{i:02d}" for i in range(len(self.accuracy))]

    def annotate(self, items: pd.DataFrame, *, votes_per_item: int) -> pd.DataFrame:
        """Votes for `items` (columns task, truth): a long table task, worker, label."""
        if votes_per_item > len(self.accuracy):
            raise LabelingError(
                f"{votes_per_item} votes per item need as many annotators; the simulation has {len(self.accuracy)}"
            )
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = set(items["truth"]) - set(index)
        if unknown:
            raise LabelingError(f"truth has labels outside the classes {self.classes}: {sorted(unknown)[:5]}")
        k = len(self.classes)
        rows = []
        for task, truth in zip(items["task"], items["truth"]):
            rng = np.random.default_rng([self.seed, _stable_int(task)])
            chosen = rng.choice(len(self.accuracy), size=votes_per_item, replace=False)
            for w in sorted(chosen):
                correct = rng.random() < self.accuracy[w]
                label = index[truth] if correct else (index[truth] + 1 + int(rng.integers(k - 1))) % k
                rows.append((task, self.workers[w], self.classes[label]))
        return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(str(text).encode()).digest()[:8], "little")
