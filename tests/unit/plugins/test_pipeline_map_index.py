"""Mapped task instances of the pipeline are named by their source in the UI (`validate [reviews]`, not
`validate [1]`): their map_index_template, rendered the way Airflow's task runner renders it.
tests/integration/test_sqlite_default.py checks the names a real scheduler's runs record."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

DAGS = Path(__file__).resolve().parents[3] / "dags"


@pytest.fixture(scope="module")
def pipeline():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "datacentric_pipeline.py"))
    assert bag.import_errors == {}
    return bag.dags["datacentric_pipeline"]


def test_every_mapped_task_has_a_map_index_template(pipeline) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    mapped = [task for task in pipeline.tasks if isinstance(task, MappedOperator)]
    assert {task.task_id for task in mapped} == {"ingest", "validate"}
    assert [task.task_id for task in mapped if not task.map_index_template] == []


@pytest.mark.parametrize("task_id", ["ingest", "validate"])
def test_the_rendered_map_index_names_the_source(pipeline, task_id: str) -> None:
    import structlog
    from airflow.sdk.execution_time.task_runner import _render_map_index

    mapped = pipeline.get_task(task_id)
    for source in ("products", "reviews", "events"):
        task = mapped.unmap({"source": source})  # the task instance's operator, its expand argument applied
        task.dag = pipeline
        context = {"map_index_template": mapped.map_index_template, "task": task}
        rendered = _render_map_index(context, ti=SimpleNamespace(task=task), log=structlog.get_logger())
        assert rendered == source
