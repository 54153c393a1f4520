"""Majority vote: each item gets the label most of its workers chose."""

from __future__ import annotations

import numpy as np
import pandas as pd


class MajorityVote:
    """Majority vote over a long table of votes (task, worker, label).

    Ties are broken by the order of `classes` (the first class wins), so the result does not depend
    on the order of the votes. The confidence of an item is the share of its votes for the winner.
    """

    def __init__(self, classes: list[str]) -> None:
        self.classes = list(classes)

    def fit(self, data: pd.DataFrame) -> MajorityVote:
        if data.empty:
            self.probas_ = pd.DataFrame(columns=self.classes, dtype=float)
            self.labels_ = pd.Series(dtype=object, name="label")
            return self
        counts = pd.crosstab(data["task"], data["label"]).reindex(columns=self.classes, fill_value=0)
        self.probas_ = counts.div(counts.sum(axis=1), axis=0)
        winner = np.argmax(counts.to_numpy(), axis=1)  # argmax takes the first maximum: the tie rule
        self.labels_ = pd.Series(np.asarray(self.classes, dtype=object)[winner], index=counts.index, name="label")
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        return self.fit(data).probas_
