"""Wait for a Label Studio project's annotations with a sensor (reschedule mode by default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException

from datacentric_airflow.hooks.label_studio import LabelStudioHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class LabelStudioProjectSensor(BaseSensorOperator):
    """Poke a labeling round's project until every task has its annotations. In reschedule mode
    (the default) the sensor holds no worker slot between pokes.

    :param job_name: the round's job name, the project's title (templated)
    :param label_studio_conn_id: the Airflow connection of the server
    """

    template_fields: Sequence[str] = ("job_name",)
    ui_color = "#f3e8ff"

    def __init__(self, *, job_name: str, label_studio_conn_id: str = LabelStudioHook.default_conn_name,
                 mode: str = "reschedule", **kwargs: Any) -> None:
        super().__init__(mode=mode, **kwargs)
        self.job_name = job_name
        self.label_studio_conn_id = label_studio_conn_id

    def poke(self, context: Context) -> bool:
        project = LabelStudioHook(label_studio_conn_id=self.label_studio_conn_id).project_progress(self.job_name)
        if project is None:
            raise AirflowException(f"no Label Studio project titled {self.job_name!r}")
        self.log.info("project %s: %d of %d tasks have their annotations (%s)", self.job_name,
                      project["finished_task_number"], project["task_number"], project["url"])
        return bool(project["task_number"]) and project["finished_task_number"] >= project["task_number"]
