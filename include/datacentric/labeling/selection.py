"""Which items a labeling round sends out: never labeled, labeled with low confidence, or flagged
as a likely label error, in the priority order and within the budget the manifest's label task sets.

Everything is read from the labels zone (labels/<task>/...):

    items/<job>.parquet         what each round sent out: how often an item has been sent
    consolidated/<job>.parquet  the labels of each round: the newest one per item is its current label
    quality/<job>.parquet       items the label-quality check flagged, with the job of the label it judged

A flag is open while the item's current label is still the one that was judged: once a later round
relabels the item, the flag is spent.
"""

from __future__ import annotations

import pandas as pd

from datacentric.manifest.model import LabelTask
from datacentric.repository.store import DataRepository


def _read_all(repo: DataRepository, task: str, folder: str, columns: list[str] | None = None) -> pd.DataFrame:
    frames = []
    for path in repo.files("labels", task, folder):
        frame = pd.read_parquet(path)
        frame["_file"] = path.stem
        frames.append(frame if columns is None else frame.reindex(columns=[*columns, "_file"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*(columns or []), "_file"])


# A label that at most this share of an item's votes gave has no majority behind it.
NO_MAJORITY = 0.5


def current_labels(repo: DataRepository, task: str, *, as_of: str | None = None) -> pd.DataFrame:
    """The newest consolidated label of every item: columns task, label, confidence, agreement (the
    share of its votes for the label), votes, job_name, consolidated_at, and rounds (how many rounds
    consolidated a label for it).

    `as_of` (an ISO time like consolidated_at) ignores rounds consolidated after it, so a re-run of
    an old interval sees the labels it saw the first time.
    """
    labels = _read_all(repo, task, "consolidated")
    columns = ["task", "label", "confidence", "agreement", "votes", "job_name", "consolidated_at", "rounds"]
    if labels.empty:
        return pd.DataFrame(columns=columns)
    labels["task"] = labels["task"].astype(str)
    if "consolidated_at" not in labels.columns:
        labels["consolidated_at"] = ""
    labels["consolidated_at"] = labels["consolidated_at"].fillna("").astype(str)
    if "job_name" not in labels.columns:
        labels["job_name"] = labels["_file"]
    # Rounds consolidated before agreement was recorded count as agreed.
    labels["agreement"] = labels["agreement"].astype(float).fillna(1.0) if "agreement" in labels else 1.0
    labels["votes"] = labels["votes"].fillna(0).astype("int64") if "votes" in labels else 0
    if as_of is not None:
        labels = labels[labels["consolidated_at"] <= as_of]
        if labels.empty:
            return pd.DataFrame(columns=columns)
    rounds = labels.groupby("task").size().rename("rounds")
    newest = labels.sort_values(["consolidated_at", "job_name"], kind="stable").drop_duplicates("task", keep="last")
    newest = newest.join(rounds, on="task")
    return newest[columns].sort_values("task").reset_index(drop=True)


def times_sent(repo: DataRepository, task: str) -> pd.Series:
    """How many rounds have sent out each item (answered or not), indexed by item id."""
    sent = _read_all(repo, task, "items", ["task"])
    if sent.empty:
        return pd.Series(dtype="int64", name="sent")
    return sent.assign(task=sent["task"].astype(str)).drop_duplicates(["task", "_file"]).groupby("task").size()


def open_label_issues(repo: DataRepository, task: str, current: pd.DataFrame) -> pd.DataFrame:
    """Flags of the label-quality check that still apply: columns task, self_confidence."""
    flags = _read_all(repo, task, "quality", ["task", "label_job", "label_issue", "self_confidence"])
    if flags.empty or current.empty:
        return pd.DataFrame(columns=["task", "self_confidence"])
    flags = flags[flags["label_issue"].fillna(False).astype(bool)].assign(task=lambda f: f["task"].astype(str))
    still = flags.merge(current[["task", "job_name"]], on="task")
    still = still[still["label_job"].astype(str) == still["job_name"].astype(str)]
    return still.groupby("task", as_index=False)["self_confidence"].min()


def select_for_labeling(
    items: pd.DataFrame, repo: DataRepository, task: LabelTask, *, limit: int | None = None
) -> pd.DataFrame:
    """The items of the next round from `items` (columns task, text), with columns task, text, round
    (how many times the item was sent out before) and reason (the rule that selected it).

    Rules apply in the order of `task.selection.rules`; an item matched by several is selected once,
    for the first. Within a rule the most urgent come first (lowest cleanlab self-confidence, lowest
    consolidated confidence, or item id for unlabeled ones), so the result is the same on every run.
    """
    budget = task.budget_per_run if limit is None else limit
    items = items.assign(task=items["task"].astype(str)).drop_duplicates("task")
    current = current_labels(repo, task.name)
    sent = times_sent(repo, task.name)
    rounds = sent.reindex(items["task"]).fillna(0).astype("int64").to_numpy()
    items = items.assign(round=rounds)
    eligible = items[items["round"] < task.selection.max_rounds_per_item]

    candidates: dict[str, pd.DataFrame] = {}
    if "unlabeled" in task.selection.rules:
        candidates["unlabeled"] = eligible[~eligible["task"].isin(current["task"])].sort_values("task")
    if "low_confidence" in task.selection.rules:
        # Below the confidence threshold, or with no majority of its votes behind the label, however
        # sure the model is.
        low = current[(current["confidence"].astype(float) < task.confidence_threshold)
                      | ((current["votes"] >= 2) & (current["agreement"].astype(float) <= NO_MAJORITY))]
        low = low.sort_values(["confidence", "task"], kind="stable")[["task"]]
        candidates["low_confidence"] = low.merge(eligible, on="task")
    if "label_issue" in task.selection.rules:
        issues = open_label_issues(repo, task.name, current).sort_values(["self_confidence", "task"], kind="stable")
        candidates["label_issue"] = issues[["task"]].merge(eligible, on="task")

    columns = [*items.columns, "reason"]
    chosen = [candidates[rule].assign(reason=rule)[columns] for rule in task.selection.rules]
    chosen = [c for c in chosen if len(c)]
    selected = pd.concat(chosen, ignore_index=True) if chosen else pd.DataFrame(columns=columns)
    selected = selected.drop_duplicates("task", keep="first").head(budget)
    return selected.astype({"round": "int64"}).reset_index(drop=True)
