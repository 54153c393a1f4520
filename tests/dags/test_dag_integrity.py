"""Every DAG imports cleanly, is documented and retried, and imports nothing heavy when parsed.

Parse time itself is measured by bench/dag_parse.py against a bare interpreter; tests assert no
timings, only the cause of slow parsing: heavy modules imported at the top of a DAG file."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
HEAVY = ("pandas", "numpy", "great_expectations", "feast", "dvc", "sklearn", "cleanlab", "pyarrow", "sagemaker")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"


def test_every_dag_has_tags_docs_retries(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 50, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} is not retried"


def test_pipeline_takes_manifest_param(dagbag) -> None:
    dag = dagbag.dags["datacentric_pipeline"]
    assert dag.params["manifest"].endswith("include/manifests/shop/manifest.yaml")


PLANTED_DAG = '''"""A DAG file that imports numpy at its top: the check below must catch it."""

import numpy  # noqa: F401
from airflow.sdk import dag


@dag(schedule=None, tags=["planted"])
def planted_heavy_import() -> None:
    pass


planted_heavy_import()
'''


@pytest.fixture(scope="module")
def parse_imports(import_probe, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """What parsing each DAG file imports, all from one interpreter warmed up as the DAG processor is
    (Airflow's one-time provider discovery done). The same planted DAG file with a heavy import is
    parsed first and last: both must be caught, so no import hides behind an earlier one."""
    folder = tmp_path_factory.mktemp("planted")
    first, last = folder / "planted_first.py", folder / "planted_last.py"
    for planted in (first, last):
        planted.write_text(PLANTED_DAG)
    results = import_probe([str(first), *map(str, DAG_FILES), str(last)])
    results["planted"] = [results.pop(str(first)), results.pop(str(last))]
    return results


def heavy_at_parse_time(result: dict) -> list[str]:
    assert result["error"] is None, result["error"][-2000:]
    return sorted(set(result["added"]) & set(HEAVY))


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(dag_file: Path, parse_imports: dict[str, dict]) -> None:
    heavy = heavy_at_parse_time(parse_imports[str(dag_file)])
    assert not heavy, f"{dag_file.name} imports heavy modules at parse time: {heavy}"


def test_a_heavy_import_in_a_dag_file_is_detected(parse_imports: dict[str, dict]) -> None:
    for result in parse_imports["planted"]:
        assert heavy_at_parse_time(result) == ["numpy"]
