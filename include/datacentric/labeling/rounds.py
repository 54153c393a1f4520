"""A labeling round: select items, collect N votes per item from a backend, consolidate them.

Everything a round produces lands in the labels zone, under labels/<task>/:

    items/<job>.parquet         the items sent out (id and text)
    votes/<job>.parquet         every vote received: task, worker, label
    rejected/<job>.parquet      votes that could not be used, each with its reason
    consolidated/<job>.parquet  one row per item: label, confidence, votes, job
    output/<job>.manifest       the same in SageMaker Ground Truth's output-manifest layout

The job name is derived from the run, and a round whose votes are already in the zone is not sent
out again: a retried task never pays for a second job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import LabelingError
from datacentric.labeling.majority_vote import MajorityVote
from datacentric.labeling.simulated import SimulatedWorkforce
from datacentric.manifest import LabelTask, LoadedManifest
from datacentric.repository import DataRepository


@dataclass(frozen=True)
class RoundResult:
    task: str
    job_name: str
    items: int
    votes: int
    reused: bool

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_name_for(task: str, interval_key: str) -> str:
    """A labeling job name that is the same for every try of one run (SageMaker's name rules)."""
    name = f"{task}-{interval_key}".replace("_", "-").lower()
    return "".join(c if c.isalnum() or c == "-" else "-" for c in name)[:63]


def _task_of(loaded: LoadedManifest) -> LabelTask:
    if loaded.spec.label_task is None:
        raise LabelingError(f"{loaded.path}: the manifest has no label_task")
    return loaded.spec.label_task


def labeled_items(repo: DataRepository, task: str) -> set[str]:
    files = repo.files("labels", task, "consolidated")
    if not files:
        return set()
    return set(pd.concat([pd.read_parquet(f, columns=["task"]) for f in files])["task"].astype(str))


def select_items(loaded: LoadedManifest, repo: DataRepository, *, limit: int | None = None) -> pd.DataFrame:
    """Validated items of the task's source that have no consolidated label yet, oldest id first."""
    task = _task_of(loaded)
    frame = repo.read_frame("validated", task.source)
    items = pd.DataFrame({"task": frame[task.item_key].astype(str), "text": frame[task.text_field].astype(str)})
    done = labeled_items(repo, task.name)
    items = items[~items["task"].isin(done)].drop_duplicates("task").sort_values("task")
    return items.head(limit if limit is not None else task.budget_per_run).reset_index(drop=True)


def run_round(
    loaded: LoadedManifest, repo: DataRepository, *, landing_root: Path, job_name: str, run_id: str
) -> RoundResult:
    """Send the selected items to the task's backend and store every vote (simulated backend)."""
    task = _task_of(loaded)
    votes_path = f"{task.name}/votes/{job_name}.parquet"
    if repo.path("labels", votes_path).exists():
        votes = pd.read_parquet(repo.path("labels", votes_path))
        items = pd.read_parquet(repo.path("labels", f"{task.name}/items/{job_name}.parquet"))
        return RoundResult(task.name, job_name, len(items), len(votes), reused=True)
    items = select_items(loaded, repo)
    provenance = {"task": task.name, "job_name": job_name, "backend": task.backend, "source": task.source}
    repo.publish_frame("labels", f"{task.name}/items/{job_name}.parquet", items, run_id=run_id, provenance=provenance)
    if task.backend != "simulated" or task.simulation is None:
        raise LabelingError(f"label task {task.name!r}: backend {task.backend!r} is not available")
    sim = task.simulation
    truth_path = (landing_root / sim.truth).resolve()
    if not truth_path.exists():
        raise LabelingError(f"label task {task.name!r}: simulation truth file {truth_path} not found")
    truth = pd.read_csv(truth_path, dtype=str).rename(columns={task.item_key: "task", "label": "truth"})
    with_truth = items.merge(truth, on="task", how="left")
    missing = with_truth["truth"].isna()
    if missing.any():
        raise LabelingError(
            f"{truth_path}: no simulated truth for {int(missing.sum())} item(s), e.g. {with_truth.loc[missing, 'task'].iloc[0]}"
        )
    workforce = SimulatedWorkforce(task.classes, sim.accuracy[: sim.workers], seed=sim.seed)
    votes = workforce.annotate(with_truth, votes_per_item=task.workers_per_item)
    repo.publish_frame(
        "labels", votes_path, votes, run_id=run_id, provenance={**provenance, "annotators": workforce.workers}
    )
    return RoundResult(task.name, job_name, len(items), len(votes), reused=False)


def check_votes(votes: pd.DataFrame, items: pd.DataFrame, classes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split votes into usable ones and rejected ones with a reason each. Never raises on bad votes."""
    reasons = pd.Series("", index=votes.index, dtype=object)
    for column in ("task", "worker", "label"):
        if column not in votes.columns:
            raise LabelingError(f"votes have no {column!r} column (columns: {', '.join(votes.columns)})")
    reasons[votes["task"].isna() | votes["worker"].isna()] = "vote without item or worker"
    unknown = ~votes["task"].astype(str).isin(set(items["task"].astype(str))) & (reasons == "")
    reasons[unknown] = "item was not part of the job"
    outside = ~votes["label"].isin(classes) & (reasons == "")
    reasons[outside] = "label outside the category set " + json.dumps(classes)
    duplicate = votes.duplicated(["task", "worker"], keep="first") & (reasons == "")
    reasons[duplicate] = "second vote of the same worker on the same item"
    bad = reasons != ""
    rejected = votes[bad].astype(str).assign(reason=reasons[bad])
    return votes[~bad].reset_index(drop=True), rejected.reset_index(drop=True)


def consolidate_round(
    loaded: LoadedManifest, repo: DataRepository, *, job_name: str, run_id: str, created_at: datetime
) -> ConsolidationResult:
    """Consolidate a round's votes by majority vote into labels with a confidence per item.

    `created_at` (the run's data interval end) stamps the output, so a re-run writes the same bytes.
    """
    task = _task_of(loaded)
    votes_file = repo.path("labels", f"{task.name}/votes/{job_name}.parquet")
    if not votes_file.exists():
        raise LabelingError(f"no votes for job {job_name!r} at {votes_file}: run the labeling round first")
    votes = pd.read_parquet(votes_file)
    items = pd.read_parquet(repo.path("labels", f"{task.name}/items/{job_name}.parquet"))
    used, rejected = check_votes(votes, items, task.classes)
    model = MajorityVote(task.classes).fit(used)
    confidence = model.probas_.max(axis=1) if len(model.probas_) else pd.Series(dtype=float)
    counts = used.groupby("task").size()
    consolidated = pd.DataFrame(
        {
            "task": model.labels_.index.astype(str),
            "label": model.labels_.values,
            "confidence": confidence.reindex(model.labels_.index).to_numpy(dtype=float),
            "votes": counts.reindex(model.labels_.index).to_numpy(dtype="int64"),
        }
    )
    consolidated["job_name"] = job_name
    consolidated["method"] = task.consolidation
    no_answer = sorted(set(items["task"].astype(str)) - set(consolidated["task"]))
    provenance = {"task": task.name, "job_name": job_name, "stage": "consolidate", "votes": f"{task.name}/votes/{job_name}.parquet"}
    published = repo.publish_frame(
        "labels", f"{task.name}/consolidated/{job_name}.parquet", consolidated, run_id=run_id, provenance=provenance
    )
    if len(rejected) or no_answer:
        rejected = pd.concat(
            [rejected, pd.DataFrame({"task": no_answer, "worker": "", "label": "", "reason": "item received no usable vote"})],
            ignore_index=True,
        )
        repo.publish_frame("labels", f"{task.name}/rejected/{job_name}.parquet", rejected, run_id=run_id, provenance=provenance)
    manifest_text = ground_truth_output_manifest(consolidated, items, task, job_name, created_at)
    output = repo.publish_bytes(
        "labels", f"{task.name}/output/{job_name}.manifest", manifest_text.encode(), rows=len(consolidated),
        run_id=run_id, provenance=provenance,
    )
    low = int((consolidated["confidence"] < task.confidence_threshold).sum())
    votes_rejected = int((rejected["reason"] != "item received no usable vote").sum()) if len(rejected) else 0
    assert len(votes) == len(used) + votes_rejected
    return ConsolidationResult(
        task.name, job_name, task.consolidation, len(consolidated), len(votes), len(used), votes_rejected, low,
        published.path, output.path,
    )


def ground_truth_output_manifest(
    consolidated: pd.DataFrame, items: pd.DataFrame, task: LabelTask, job_name: str, created_at: datetime
) -> str:
    """JSON lines in the layout Ground Truth writes for text classification, so its readers work."""
    texts = dict(zip(items["task"].astype(str), items["text"]))
    created = created_at.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat()
    lines = []
    for row in consolidated.itertuples(index=False):
        lines.append(
            json.dumps(
                {
                    "source": texts.get(row.task, ""),
                    "id": row.task,
                    task.name: task.classes.index(row.label),
                    f"{task.name}-metadata": {
                        "class-name": row.label,
                        "confidence": round(float(row.confidence), 4),
                        "type": "groundtruth/text-classification",
                        "job-name": f"labeling-job/{job_name}",
                        "human-annotated": "yes",
                        "creation-date": created,
                    },
                },
                sort_keys=True,
            )
        )
    return "\n".join(lines) + ("\n" if lines else "")
