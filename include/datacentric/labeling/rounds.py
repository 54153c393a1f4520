"""A labeling round: select items, collect N votes per item from a backend, consolidate them, all
under labels/<task>/. Design note and the zone's files: docs/explanation/labeling.md."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datacentric.errors import LabelingError, MissingDefinitionError
from datacentric.labeling.aggregation.dawid_skene import DawidSkene
from datacentric.labeling.aggregation.majority_vote import MajorityVote, confusion_matrices
from datacentric.labeling.backends.base import LabelingBackend, LabelingJobFailed, get_backend
from datacentric.labeling.backends.ground_truth import output_manifest
from datacentric.labeling.votes import VOTE_COLUMNS
from datacentric.manifest.model import LabelTask, LoadedManifest
from datacentric.repository.store import DataRepository


@dataclass(frozen=True)
class RoundResult:
    """Where a round stands. `state`: in_progress (the job runs), completed (done, votes not yet
    collected), collected (votes in the labels zone) or failed. `rejected`: responses that never
    became a vote; `job_id` and `url`: the backend's id of the job and a link to it."""

    task: str
    job_name: str
    items: int
    votes: int
    reused: bool
    backend: str = "simulated"
    state: str = "collected"
    job_id: str = ""
    url: str = ""
    rejected: int = 0
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConsolidationResult:
    task: str
    job_name: str
    method: str
    items: int
    votes_in: int
    votes_used: int
    votes_rejected: int
    low_confidence: int
    path: str
    output_manifest: str
    workers_path: str = ""
    rejected_path: str = ""
    items_without_answer: int = 0
    messages: list[str] = field(default_factory=list)
    responses_rejected: int = 0  # backend responses that never became a vote (responses_rejected/<job>)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_name_for(task: str, interval_key: str) -> str:
    """A labeling job name that is the same for every try of one run (SageMaker's name rules)."""
    name = f"{task}-{interval_key}".replace("_", "-").lower()
    return "".join(c if c.isalnum() or c == "-" else "-" for c in name)[:63]


def _task_of(loaded: LoadedManifest) -> LabelTask:
    if loaded.spec.label_task is None:
        raise MissingDefinitionError(f"{loaded.path}: the manifest has no label_task")
    return loaded.spec.label_task


def select_items(loaded: LoadedManifest, repo: DataRepository, *, limit: int | None = None) -> pd.DataFrame:
    """The validated items of the task's source that the next round sends out, within the budget
    (`limit`, default the task's budget_per_run): columns task, text, round, reason.

    The task's `selection` rules decide: never labeled, consolidated confidence under the threshold,
    flagged as a likely label error (see `datacentric.labeling.selection`).
    """
    from datacentric.labeling.selection import select_for_labeling

    task = _task_of(loaded)
    frame = repo.read_frame("validated", task.source)
    items = pd.DataFrame({"task": frame[task.item_key].astype(str), "text": frame[task.text_field].astype(str)})
    return select_for_labeling(items, repo, task, limit=limit)


def run_round(
    loaded: LoadedManifest,
    repo: DataRepository,
    *,
    job_name: str,
    run_id: str,
    landing_root: Path | None = None,
    backend: LabelingBackend | None = None,
) -> RoundResult:
    """Start a round on its backend and, when the job is already done (the simulated workforce
    answers at once), collect its votes. Default backend: the task's, with `landing_root` for the
    simulation's truth file; jobs that take time come back in_progress (see start_round)."""
    task = _task_of(loaded)
    backend = backend or get_backend(task, landing_root=landing_root)
    started = start_round(loaded, repo, backend, job_name=job_name, run_id=run_id)
    if started.state != "completed":
        return started
    return finish_round(loaded, repo, backend, job_name=job_name, run_id=run_id)


def _round_files(task: LabelTask, job_name: str) -> dict[str, str]:
    return {kind: f"{task.name}/{kind}/{job_name}.parquet" for kind in ("items", "votes", "responses_rejected")}


def _collected(repo: DataRepository, task: LabelTask, job_name: str, backend: str, items: int) -> RoundResult:
    files = _round_files(task, job_name)
    rejected = repo.path("labels", files["responses_rejected"])
    return RoundResult(
        task.name, job_name, items, len(pd.read_parquet(repo.path("labels", files["votes"]))), reused=True,
        backend=backend, state="collected", rejected=len(pd.read_parquet(rejected)) if rejected.exists() else 0,
    )


def start_round(
    loaded: LoadedManifest, repo: DataRepository, backend: LabelingBackend, *, job_name: str, run_id: str
) -> RoundResult:
    """Publish the round's items and start its job on `backend`.

    Both happen once per job name: a retry reads the items already published instead of selecting
    again, and the backend finds the job it started before (no second paid job). A round whose votes
    are in the zone is not touched. With nothing to label, no job is started and the round is
    collected with no votes.
    """
    task = _task_of(loaded)
    files = _round_files(task, job_name)
    items_file = repo.path("labels", files["items"])
    provenance = {"task": task.name, "job_name": job_name, "backend": backend.type, "source": task.source}
    if items_file.exists():
        items = pd.read_parquet(items_file)
    else:
        items = select_items(loaded, repo)
        repo.publish_frame("labels", files["items"], items, run_id=run_id, provenance=provenance)
    if repo.path("labels", files["votes"]).exists():
        return _collected(repo, task, job_name, backend.type, len(items))
    if items.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in VOTE_COLUMNS})
        repo.publish_frame("labels", files["votes"], empty, run_id=run_id, provenance=provenance)
        return RoundResult(task.name, job_name, 0, 0, reused=False, backend=backend.type,
                           messages=["no item needs a label: no labeling job was started"])
    handle = backend.submit(job_name, items)
    status = backend.status(job_name)
    return RoundResult(
        task.name, job_name, len(items), 0, reused=handle.existing, backend=backend.type, state=status.state,
        job_id=handle.job_id, url=handle.url, messages=[status.message] if status.message else [],
    )


def finish_round(
    loaded: LoadedManifest, repo: DataRepository, backend: LabelingBackend, *, job_name: str, run_id: str
) -> RoundResult:
    """Collect a finished job's answers into the labels zone: the backend's raw output under
    responses/<job>/, responses that never became a vote under responses_rejected/<job>.parquet
    (each with its reason), and the votes last, since their file marks the round as collected.
    Responses in = votes + rejected responses."""
    task = _task_of(loaded)
    files = _round_files(task, job_name)
    items_file = repo.path("labels", files["items"])
    if not items_file.exists():
        raise LabelingError(f"job {job_name!r} has no items at {items_file}: start the round first")
    items = pd.read_parquet(items_file)
    if repo.path("labels", files["votes"]).exists():
        return _collected(repo, task, job_name, backend.type, len(items))
    status = backend.status(job_name)
    if status.state == "failed":
        raise LabelingJobFailed(backend.type, job_name, status.message)
    if status.state != "completed":
        raise LabelingError(f"{backend.type} labeling job {job_name!r} is still in progress "
                            f"({status.done} of {status.total} done): collect it when it completes")
    collected = backend.collect(job_name, items)
    provenance = {"task": task.name, "job_name": job_name, "backend": backend.type, "stage": "label",
                  "annotators": collected.annotators}
    for name, data in sorted(collected.raw.items()):
        repo.publish_bytes("labels", f"{task.name}/responses/{job_name}/{name}", data, run_id=run_id,
                           provenance=provenance)
    if len(collected.rejected):
        repo.publish_frame("labels", files["responses_rejected"], collected.rejected.astype(str), run_id=run_id,
                           provenance=provenance)
    repo.publish_frame("labels", files["votes"], collected.votes, run_id=run_id, provenance=provenance)
    return RoundResult(
        task.name, job_name, len(items), len(collected.votes), reused=False, backend=backend.type,
        state="collected", rejected=len(collected.rejected), messages=list(collected.messages),
    )


NO_ANSWER = "item received no usable vote"


def check_votes(votes: pd.DataFrame, items: pd.DataFrame, classes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a job's votes into usable ones and rejected ones with a reason each; never raises.

    Usable votes come back as text in the columns task, worker, label. A vote is rejected when its
    response lacks a field, has an empty or malformed one (a list, a number where a label belongs),
    names an item that was not in the job, gives a label outside the category set, or repeats a
    worker's vote on the same item (the first one counts). Every vote lands on exactly one side:
    votes in = votes used + votes rejected.
    """
    votes = votes.reset_index(drop=True)
    reasons = pd.Series("", index=votes.index, dtype=object)

    def reject(mask: pd.Series, reason: str) -> None:
        reasons[mask & (reasons == "")] = reason

    fields: dict[str, pd.Series] = {}
    for column in VOTE_COLUMNS:
        if column in votes.columns:
            fields[column] = _as_text(votes[column], ids=column != "label")
        else:
            fields[column] = pd.Series(None, index=votes.index, dtype=object)
            reject(pd.Series(True, index=votes.index), f"response has no {column!r} field")
    for column, what in (("task", "item id"), ("worker", "worker id"), ("label", "label")):
        value = fields[column]
        reject(value.isna(), f"vote without {what}")
        reject(value == _MALFORMED, f"malformed {what}: expected text, got {{type}}")
    known = set(items["task"].astype(str))
    reject(~fields["task"].isin(known), "item was not part of the job")
    reject(~fields["label"].isin(classes), "label outside the category set " + json.dumps(classes))
    checked = pd.DataFrame(fields)
    reject(checked.duplicated(["task", "worker"], keep="first"), "second vote of the same worker on the same item")

    bad = reasons != ""
    malformed = bad & reasons.str.contains("{type}", regex=False)
    if malformed.any():  # name the offending type in the reason
        for column in VOTE_COLUMNS:
            if column in votes.columns:
                rows = malformed & (fields[column] == _MALFORMED)
                kinds = votes.loc[rows, column].map(lambda v: type(v).__name__)
                reasons[rows] = [r.replace("{type}", k) for r, k in zip(reasons[rows], kinds, strict=True)]
    rejected = votes[bad].copy()
    for column in VOTE_COLUMNS:
        if column not in rejected.columns:
            rejected[column] = None
    rejected = rejected.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    rejected["reason"] = reasons[bad]
    return checked[~bad].reset_index(drop=True), rejected.reset_index(drop=True)


_MALFORMED = "\x00malformed"


def _as_text(values: pd.Series, *, ids: bool) -> pd.Series:
    """Values as stripped text; None when missing or empty; a marker when not text. Integer ids
    (Label Studio numbers its tasks and annotators) count as text, integer labels do not."""

    def one(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, str):
            return value.strip() or None
        if ids and isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return str(int(value))
        return _MALFORMED

    return values.map(one).astype(object)


def _consolidator(task: LabelTask) -> MajorityVote | DawidSkene:
    if task.consolidation == "dawid_skene":
        return DawidSkene(list(task.classes), n_iter=task.dawid_skene.n_iter, tol=task.dawid_skene.tol)
    return MajorityVote(list(task.classes))


def _earlier_votes(repo: DataRepository, task: LabelTask, job_name: str, items: pd.DataFrame) -> pd.DataFrame:
    """Usable votes from the earlier rounds of the items this job relabels (round > 0), so a relabeled
    item is consolidated from all of its votes. "Earlier" is by each item's round number in the other
    jobs' items, so later jobs never leak into a re-run of this one."""
    empty = pd.DataFrame(columns=[*VOTE_COLUMNS, "job_name"])
    if "round" not in items.columns or not (items["round"] > 0).any():
        return empty
    again = items.loc[items["round"] > 0, ["task", "round"]]
    frames = []
    for path in repo.files("labels", task.name, "votes"):
        other_items = repo.path("labels", task.name, "items", path.name)
        if path.stem == job_name or not other_items.exists():
            continue
        sent = pd.read_parquet(other_items)
        sent = sent.assign(task=sent["task"].astype(str), round=sent.get("round", 0))[["task", "round"]]
        earlier = again.merge(sent, on="task", suffixes=("", "_then"))
        earlier = earlier[earlier["round_then"] < earlier["round"]]
        if earlier.empty:
            continue
        usable, _ = check_votes(pd.read_parquet(path), earlier, list(task.classes))
        if len(usable):
            frames.append(usable.assign(job_name=path.stem))
    return pd.concat(frames, ignore_index=True) if frames else empty


def consolidate_round(
    loaded: LoadedManifest, repo: DataRepository, *, job_name: str, run_id: str, created_at: datetime
) -> ConsolidationResult:
    """Consolidate a round's votes into one label and a posterior confidence per item, with the
    task's method (majority vote or Dawid-Skene), and measure every worker.

    Writes, under labels/<task>/: consolidated/<job>.parquet (task, label, confidence, votes,
    annotators, jobs, round, job_name, method, consolidated_at), workers/<job>.parquet (per worker:
    votes, accuracy, confusion matrix), rejected/<job>.parquet (rejected votes and unanswered items,
    each with its reason) and output/<job>.manifest (Ground Truth's output-manifest layout). Bad
    input never stops it: a job that returned nothing gives an empty consolidation and a message.
    `created_at` (the run's data interval end) stamps the output, so a re-run writes the same bytes.
    """
    task = _task_of(loaded)
    votes_file = repo.path("labels", f"{task.name}/votes/{job_name}.parquet")
    items_file = repo.path("labels", f"{task.name}/items/{job_name}.parquet")
    for path in (votes_file, items_file):
        if not path.exists():
            raise LabelingError(f"job {job_name!r} has no {path.parent.name} at {path}: run the labeling round first")
    votes = pd.read_parquet(votes_file)
    items = pd.read_parquet(items_file)
    items = items.assign(task=items["task"].astype(str))
    used, rejected = check_votes(votes, items, list(task.classes))
    votes_rejected = len(rejected)
    if len(votes) != len(used) + votes_rejected:  # every vote is used or rejected, never lost
        raise LabelingError(f"job {job_name}: {len(votes)} votes in but {len(used)} used + {votes_rejected} rejected")
    messages: list[str] = []
    unreadable = repo.path("labels", task.name, "responses_rejected", f"{job_name}.parquet")
    responses_rejected = len(pd.read_parquet(unreadable)) if unreadable.exists() else 0
    if responses_rejected:
        messages.append(f"the backend could not read {responses_rejected} response(s) of job {job_name} "
                        f"(reasons in labels/{task.name}/responses_rejected/{job_name}.parquet)")
    if items.empty:
        messages.append(f"job {job_name} had no items: nothing to consolidate")
    elif votes.empty:
        messages.append(f"job {job_name} returned no votes: nothing to consolidate")
    elif used.empty:
        messages.append(f"job {job_name}: none of its {len(votes)} votes was usable (see the rejected votes)")

    pooled = pd.concat(
        [frame for frame in (used.assign(job_name=job_name), _earlier_votes(repo, task, job_name, items)) if len(frame)]
        or [used.assign(job_name=job_name)],
        ignore_index=True,
    )
    pooled = pooled[pooled["task"].isin(set(used["task"]))].drop_duplicates(["task", "worker"], keep="first")
    model = _consolidator(task).fit(pooled[list(VOTE_COLUMNS)])
    if isinstance(model, DawidSkene) and len(pooled) and not model.converged_:
        messages.append(f"Dawid-Skene stopped after {model.n_iter_} iterations before reaching tol={model.tol}")

    stamp = created_at.astimezone(UTC).replace(microsecond=0).isoformat()
    per_item = pooled.groupby("task").agg(
        votes=("worker", "size"),
        annotators=("worker", lambda w: sorted(set(w))),
        jobs=("job_name", lambda j: sorted(set(j))),
    )
    rounds = items.drop_duplicates("task").set_index("task")["round"] if "round" in items.columns else None
    order = model.labels_.index.astype(str).argsort(kind="stable")
    tasks = model.labels_.index[order]
    consolidated = pd.DataFrame(
        {
            "task": tasks.astype(str),
            "label": model.labels_.to_numpy(dtype=object)[order],
            "confidence": model.probas_.to_numpy(dtype=float).max(axis=1, initial=0.0)[order],
            "votes": per_item["votes"].reindex(tasks).to_numpy(dtype="int64"),
            "agreement": _agreement(pooled, model.labels_).reindex(tasks).to_numpy(dtype=float),
            "annotators": per_item["annotators"].reindex(tasks).to_list(),
            "jobs": per_item["jobs"].reindex(tasks).to_list(),
            "round": (rounds.reindex(tasks.astype(str)).fillna(0) if rounds is not None else pd.Series(0, index=tasks))
            .to_numpy(dtype="int64"),
        }
    )
    consolidated["job_name"] = job_name
    consolidated["method"] = task.consolidation
    consolidated["consolidated_at"] = stamp

    worker_votes = pooled.groupby("worker").size()
    workers = pd.DataFrame(
        {
            "worker": model.accuracies_.index.astype(str),
            "votes": worker_votes.reindex(model.accuracies_.index).to_numpy(dtype="int64"),
            "accuracy": model.accuracies_.to_numpy(dtype=float),
        }
    )
    matrices = confusion_matrices(model.errors_, list(task.classes))
    workers["confusion"] = [json.dumps(np.round(matrices[w], 6).tolist()) for w in workers["worker"]]
    workers = workers.sort_values("worker").reset_index(drop=True).assign(job_name=job_name, method=task.consolidation)
    single = workers.loc[workers["votes"] == 1, "worker"].tolist()
    if single:
        messages.append(
            f"{len(single)} worker(s) gave a single answer, too few to estimate their quality "
            f"(e.g. {', '.join(single[:5])}); their confusion matrices rest on that one vote"
        )

    no_answer = sorted(set(items["task"]) - set(consolidated["task"]))
    if no_answer and not votes.empty:
        messages.append(f"{len(no_answer)} item(s) received no usable vote (e.g. {', '.join(no_answer[:5])})")
    provenance = {
        "task": task.name,
        "job_name": job_name,
        "stage": "consolidate",
        "method": task.consolidation,
        "votes": [f"{task.name}/votes/{j}.parquet" for j in sorted({job_name, *pooled["job_name"]})],
        "annotators": int(workers["worker"].nunique()),
    }
    base = task.name
    published = repo.publish_frame("labels", f"{base}/consolidated/{job_name}.parquet", consolidated, run_id=run_id,
                                   provenance=provenance)
    workers_published = repo.publish_frame("labels", f"{base}/workers/{job_name}.parquet", workers, run_id=run_id,
                                           provenance=provenance)
    rejected_path = ""
    if len(rejected) or no_answer:
        unanswered = pd.DataFrame({"task": no_answer, "worker": "", "label": "", "reason": NO_ANSWER})
        rejected = pd.concat([frame for frame in (rejected, unanswered) if len(frame)], ignore_index=True)
        rejected_path = repo.publish_frame("labels", f"{base}/rejected/{job_name}.parquet", rejected, run_id=run_id,
                                           provenance=provenance).path
    manifest_text = output_manifest(consolidated, items, task, job_name, created_at)
    output = repo.publish_bytes(
        "labels", f"{base}/output/{job_name}.manifest", manifest_text.encode(), rows=len(consolidated),
        run_id=run_id, provenance=provenance,
    )
    low = int((consolidated["confidence"] < task.confidence_threshold).sum())
    return ConsolidationResult(
        task.name, job_name, task.consolidation, len(consolidated), len(votes), len(used), votes_rejected, low,
        published.path, output.path, workers_published.path, rejected_path, len(no_answer), messages,
        responses_rejected,
    )


def _agreement(votes: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """Per item, the share of its votes that gave the consolidated label. A model's posterior can be
    sure of a label few votes gave (Dawid-Skene, when workers who are near perfect elsewhere disagree
    on one item, picks a class nobody else uses at confidence 1.0); the share of the votes cannot."""
    chosen = votes["task"].map(labels.rename(index=str).to_dict()) if len(votes) else votes["task"]
    agree = (votes["label"].astype(str) == chosen.astype(str)).groupby(votes["task"].astype(str)).mean()
    return agree.rename("agreement")
