"""Labeling backends: the simulated workforce, SageMaker Ground Truth and Label Studio behind one
interface (`LabelingBackend`), found by type through `BACKEND_CLASSES`."""

from datacentric.labeling.backends.base import (
    BACKEND_CLASSES,
    BackendNotFound,
    CollectedVotes,
    JobHandle,
    JobStatus,
    LabelingBackend,
    LabelingJobFailed,
    backend_class,
    backend_config,
    get_backend,
)

__all__ = [
    "BACKEND_CLASSES",
    "BackendNotFound",
    "CollectedVotes",
    "JobHandle",
    "JobStatus",
    "LabelingBackend",
    "LabelingJobFailed",
    "backend_class",
    "backend_config",
    "get_backend",
]
