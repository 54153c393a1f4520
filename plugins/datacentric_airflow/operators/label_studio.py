"""Labeling rounds on a self-hosted Label Studio server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datacentric_airflow.hooks.label_studio import LabelStudioHook
from datacentric_airflow.operators.labeling import LabelingRoundOperator
from datacentric_airflow.triggers.label_studio import LabelStudioProjectTrigger


class LabelStudioLabelingOperator(LabelingRoundOperator):
    """Have a round's items annotated in a Label Studio project.

    Creates one project per round, titled with the job name derived from the run (or finds the one
    an earlier try created), with a labeling config generated from the label task (the text and one
    required single choice over the classes) and an overlap of workers_per_item annotations per
    task, and imports the items the project does not have yet. Logs the project's id and link and
    defers to LabelStudioProjectTrigger until every task has its annotations; `execute_complete`
    raises unless it succeeded, then exports the annotations with their annotators into the labels
    zone. Returns the job name, state and counts.

    :param manifest: path of the manifest YAML (templated)
    :param label_studio_conn_id: connection instead of the manifest's label_studio.conn_id (templated)
    :param deferrable: wait in the triggerer (True) or poll from the worker (False)
    :param poll_interval: seconds between two progress checks (default: the manifest's)
    """

    template_fields: Sequence[str] = ("manifest", "label_studio_conn_id")
    backend_type = "label_studio"

    def __init__(self, *, manifest: str, label_studio_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(manifest=manifest, **kwargs)
        self.label_studio_conn_id = label_studio_conn_id

    # The base class declares conn_id an attribute; here it is a read-only view of label_studio_conn_id.
    @property
    def conn_id(self) -> str | None:  # type: ignore[override]
        return self.label_studio_conn_id


def labeling_backend(task: Any, config: Any, conn_id: str | None) -> Any:
    """The Label Studio backend with a REST client for the connection's server."""
    return LabelStudioHook(label_studio_conn_id=conn_id or config.conn_id).get_labeling_backend(task, config)


def labeling_trigger(job_name: str, config: Any, conn_id: str | None, poll_interval: float) -> Any:
    return LabelStudioProjectTrigger(job_name, label_studio_conn_id=conn_id or config.conn_id,
                                     poll_interval=poll_interval)
