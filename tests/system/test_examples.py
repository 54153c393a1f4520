"""The example DAGs the how-to pages quote parse like any DAG, and the runnable ones run.

Parsing: every `example_*.py` imports without errors, is documented, tagged and retried, imports
nothing heavy at parse time, and every manifest beside them is valid.

Running: `example_add_source`, `example_backfill` and `example_restore` run through Airflow's
`dag.test()` in a subprocess with their own Airflow home and data folders, one after the other on
the same repository, as a user would run them: a new source ingested and validated, three backfill
runs (an interval, the same interval again, the next interval), and a restore of a past state. The labeling examples
need a Label Studio server or an AWS account with Ground Truth; they are parsed here, and the
labeling rounds themselves are tested in tests/integration/ (a real Label Studio server; botocore's
Stubber for Ground Truth).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SYSTEM = Path(__file__).resolve().parent
PROJECT = SYSTEM.parents[1]
EXAMPLES = sorted(SYSTEM.glob("example_*.py"))
MANIFESTS = sorted(SYSTEM.glob("manifests/*/manifest.yaml"))
HEAVY = ("pandas", "numpy", "great_expectations", "feast", "dvc", "sklearn", "cleanlab", "pyarrow", "sagemaker")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(SYSTEM))


def test_examples_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(path.stem for path in EXAMPLES)


def test_examples_are_documented_tagged_and_retried(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert "example" in dag.tags, f"{dag_id} is not tagged 'example'"
        assert dag.doc_md and "docs/how-to/" in dag.doc_md, f"{dag_id} does not say which page quotes it"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} is not retried"


def test_teardowns_follow_their_setups(dagbag) -> None:
    for dag_id in ("example_add_source", "example_restore"):
        dag = dagbag.dags[dag_id]
        setups = [task for task in dag.tasks if task.is_setup]
        teardowns = [task for task in dag.tasks if task.is_teardown]
        assert len(setups) == 1 and len(teardowns) == 1, dag_id
        assert setups[0].task_id in teardowns[0].upstream_task_ids
        assert teardowns[0].downstream_task_ids == set(), f"{dag_id}: the teardown is not the last task"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name)
def test_example_manifests_are_valid(manifest: Path) -> None:
    from datacentric.manifest import load_manifest

    loaded = load_manifest(manifest)
    assert loaded.spec.sources


def test_labeling_examples_fix_their_backend(dagbag) -> None:
    from datacentric.manifest import load_manifest

    for dag_id, backend in (("example_label_studio", "label_studio"), ("example_ground_truth", "ground_truth")):
        label = dagbag.dags[dag_id].get_task("label")
        assert label.backend_type == backend
        manifest = load_manifest(dagbag.dags[dag_id].params["manifest"])
        assert manifest.spec.label_task.backend == backend


_PROBE = """
import json, sys, runpy
import airflow.sdk
from airflow.sdk import Asset
Asset(name="warm", uri="datacentric://warm/up")
before = set(sys.modules)
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_imports_nothing_heavy(example: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(example)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert not heavy, f"{example.name} imports heavy modules at parse time: {heavy}"


SCENARIO = textwrap.dedent('''
    import json, os, sys
    from datetime import datetime, timezone
    from pathlib import Path

    import pyarrow.parquet as pq
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from datacentric.settings import Settings

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    settings = Settings.from_env()
    out = {}

    def xcom(dr, task_id):
        with create_session() as session:
            row = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id,
                                                     key="return_value")).first()
            return XComModel.deserialize_value(row) if row is not None else None

    def rows(zone):
        folder = settings.repository / zone
        return sum(pq.ParquetFile(f).metadata.num_rows for f in folder.rglob("*.parquet")) if folder.exists() else 0

    def day(n):
        return datetime(2026, 10, n, tzinfo=timezone.utc)

    dr = bag.dags["example_add_source"].test(logical_date=day(1))
    out["add_source"] = {
        "state": str(dr.state), "snapshot": xcom(dr, "snapshot"),
        "raw": rows("raw/orders"), "validated": rows("validated/orders"),
        "quarantine_ingest": rows("quarantine/orders/ingest"),
        "quarantine_validate": rows("quarantine/orders/validate"),
        "landing_left": sorted(p.name for p in (settings.landing_root / "example_orders").glob("*")),
    }
    # dag.test(logical_date=D) runs the interval that ends at D, as `airflow dags test` does.
    for step, n in (("backfill_2", 2), ("backfill_2_again", 2), ("backfill_3", 3)):
        dr = bag.dags["example_backfill"].test(logical_date=day(n))
        out[step] = {"state": str(dr.state), "report": xcom(dr, "report"), "snapshot": xcom(dr, "snapshot"),
                     "validated": rows("validated/orders")}
    dr = bag.dags["example_restore"].test(run_conf={"state": out["backfill_2"]["snapshot"]["data_state_id"]})
    restored = xcom(dr, "restore")
    out["restore"] = {"state": str(dr.state), "restored": restored, "rows": xcom(dr, "count_validated_rows"),
                      "workspace_left": Path(restored["restored_to"]).exists() if restored else None}
    with open(sys.argv[1], "w") as handle:
        json.dump(out, handle, default=str)
''')


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("system")
    home = base / "airflow"
    home.mkdir()
    (base / "scenario.py").write_text(SCENARIO)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(SYSTEM),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DATACENTRIC_VAR": str(base / "var"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "include"), str(PROJECT / "plugins")]),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    result = base / "result.json"
    run = subprocess.run([sys.executable, str(base / "scenario.py"), str(result)], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-5000:])
    return json.loads(result.read_text())


@pytest.mark.e2e
def test_add_source_accounts_for_every_row(runs: dict) -> None:
    add = runs["add_source"]
    assert add["state"] == "success"
    # 15 rows offered: one cannot be typed (ingestion), one breaks `min: 0` (validation).
    assert add["quarantine_ingest"] == 1
    assert add["raw"] == 14
    assert add["quarantine_validate"] == 1
    assert add["validated"] == 13
    assert add["snapshot"]["tag"] == "example_add_source/validated/20261001T000000Z"
    assert add["landing_left"] == [], "the teardown did not remove the example's files"


@pytest.mark.e2e
def test_backfill_takes_each_interval_and_reproduces_it(runs: dict) -> None:
    first, again, second = runs["backfill_2"], runs["backfill_2_again"], runs["backfill_3"]
    assert [first["state"], again["state"], second["state"]] == ["success"] * 3
    assert first["report"] == "new"
    assert first["snapshot"]["tag"] == "example_backfill/orders/20261002T000000Z"
    assert first["validated"] == 13 + 4, "the interval [10-01, 10-02) did not bring exactly its day's 4 rows"
    assert again["report"] == "identical"
    assert again["snapshot"]["data_state_id"] == first["snapshot"]["data_state_id"]
    assert again["validated"] == first["validated"]
    assert second["report"] == "new"
    assert second["snapshot"]["tag"] == "example_backfill/orders/20261003T000000Z"
    assert second["validated"] == 13 + 8


@pytest.mark.e2e
def test_restore_reads_the_past_state_and_cleans_up(runs: dict) -> None:
    restore = runs["restore"]
    assert restore["state"] == "success"
    assert restore["restored"]["data_state_id"] == runs["backfill_2"]["snapshot"]["data_state_id"]
    assert restore["restored"]["files_verified"] > 0
    assert restore["rows"] == {"orders": 13 + 4}, "the restored state is not the one of the first backfill run"
    assert restore["workspace_left"] is False
