"""Every DAG imports cleanly, is documented and retried, and imports nothing heavy when parsed.

Parse time itself is measured by bench/dag_parse.py against a bare interpreter; tests assert no
timings, only the cause of slow parsing: heavy modules imported at the top of a DAG file."""

from __future__ import annotations

import json
import subprocess
import sys
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


_PROBE = """
import json, sys, runpy
import airflow.sdk
from airflow.sdk import Asset
Asset(name="warm", uri="datacentric://warm/up")  # Airflow's one-time provider discovery, shared by all DAGs
before = set(sys.modules)
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_nothing_heavy(dag_file: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(dag_file)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert not heavy, f"{dag_file.name} imports heavy modules at parse time: {heavy}"
