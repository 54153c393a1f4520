"""The labeling backend plug-in: who labels a round's items, behind one small interface.

A backend starts a labeling job for a round (`submit`), reports how far it is (`status`) and hands
back what the workers answered (`collect`) as the long vote table task, worker, label that
consolidation reads, plus the responses it could not turn into a vote, each with its reason.

`submit` is idempotent: a backend first looks for the job it may have started before under the same
name (a Ground Truth labeling job, a Label Studio project) and starts one only when there is none,
so a retried task never pays for a second job. Backends are found through a type -> class table
(`BACKEND_CLASSES`, like Feast's online stores), and each is configured by its block of the label
task (`simulation`, `ground_truth`, `label_studio`); the clients a backend talks through (boto3,
HTTP) are handed in by the caller, which builds them from Airflow connections.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import pandas as pd

from datacentric.errors import LabelingError
from datacentric.labeling.votes import REJECTED_COLUMNS, VOTE_COLUMNS
from datacentric.manifest.model import LABELING_BACKENDS, LabelTask

JobState = Literal["in_progress", "completed", "failed"]


class BackendNotFound(LabelingError):
    """The label task names a backend that has no class in the table."""

    def __init__(self, backend: str) -> None:
        super().__init__(f"no labeling backend {backend!r}; backends are {', '.join(sorted(BACKEND_CLASSES))}")
        self.backend = backend


class LabelingJobFailed(LabelingError):
    """The backend reports that a round's job failed or was stopped; the message says why."""

    def __init__(self, backend: str, job_name: str, reason: str) -> None:
        super().__init__(f"{backend} labeling job {job_name!r} did not complete: {reason}")
        self.backend = backend
        self.job_name = job_name
        self.reason = reason


@dataclass(frozen=True)
class JobHandle:
    """Where a round's job lives: the backend's id for it and a link a person can open."""

    job_name: str
    job_id: str
    url: str = ""
    existing: bool = False  # True when submit found the job already started (a retry)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobStatus:
    """How far a job is: `done` of `total` items finished; `message` explains a failure."""

    job_name: str
    state: JobState
    done: int = 0
    total: int = 0
    message: str = ""


@dataclass
class CollectedVotes:
    """What a finished job returned.

    `votes`: one row per usable answer (task, worker, label, all text). `rejected`: every response
    that could not become a vote (malformed, unknown item, label outside the category set, skipped),
    with its reason and origin (file and line, annotation id). Responses in = votes + rejected.
    `raw`: the backend's own output files by name, kept in the labels zone for lineage.
    """

    votes: pd.DataFrame
    rejected: pd.DataFrame
    annotators: list[str] = field(default_factory=list)
    raw: dict[str, bytes] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @classmethod
    def from_rows(
        cls,
        votes: list[tuple[str, str, str]],
        rejected: list[tuple[str, str, str, str, str]],
        **kwargs: Any,
    ) -> CollectedVotes:
        vote_frame = pd.DataFrame(votes, columns=list(VOTE_COLUMNS), dtype=object)
        annotators = sorted(set(vote_frame["worker"]))
        return cls(vote_frame, pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS), dtype=object),
                   annotators=annotators, **kwargs)


class LabelingBackend(ABC):
    """One way to get a round's items labeled by N workers each.

    :param task: the manifest's label task (classes, instructions, workers_per_item)
    :param config: the task's block for this backend
    :param resources: clients and paths the backend needs, built by the caller
    """

    type: ClassVar[str]

    def __init__(self, task: LabelTask, config: Any, **resources: Any) -> None:
        self.task = task
        self.config = config
        self.resources = resources

    @abstractmethod
    def submit(self, job_name: str, items: pd.DataFrame) -> JobHandle:
        """Start the job for `items` (columns task, text) unless a job of that name exists already."""

    @abstractmethod
    def status(self, job_name: str) -> JobStatus:
        """Whether the job is still running, completed or failed (with the backend's reason)."""

    @abstractmethod
    def collect(self, job_name: str, items: pd.DataFrame) -> CollectedVotes:
        """Every answer of a completed job, as votes and rejected responses."""

    def _resource(self, name: str) -> Any:
        try:
            return self.resources[name]
        except KeyError:
            raise LabelingError(f"the {self.type} labeling backend needs a {name!r} client; none was given") from None


# type -> class, imported only when a task uses it, so boto3 or requests load only where needed.
BACKEND_CLASSES: dict[str, str] = {
    "simulated": "datacentric.labeling.backends.simulated.SimulatedBackend",
    "ground_truth": "datacentric.labeling.backends.ground_truth.GroundTruthBackend",
    "label_studio": "datacentric.labeling.backends.label_studio.LabelStudioBackend",
}


def backend_class(backend: str) -> type[LabelingBackend]:
    if backend not in BACKEND_CLASSES:
        raise BackendNotFound(backend)
    module, _, name = BACKEND_CLASSES[backend].rpartition(".")
    return getattr(importlib.import_module(module), name)


def backend_config(task: LabelTask, backend: str | None = None) -> Any:
    """The label task's configuration block for `backend` (default: the task's own backend)."""
    backend = backend or task.backend
    if backend not in LABELING_BACKENDS:
        raise BackendNotFound(backend)
    block = LABELING_BACKENDS[backend]
    config = getattr(task, block, None)
    if config is None:
        raise LabelingError(f"label task {task.name!r}: backend {backend!r} needs a {block!r} block in the manifest")
    return config


def get_backend(task: LabelTask, backend: str | None = None, **resources: Any) -> LabelingBackend:
    """The backend a label task uses (or `backend`), configured from its block, with `resources`."""
    backend = backend or task.backend
    cls = backend_class(backend)
    return cls(task, backend_config(task, backend), **resources)
