"""Backfills reproduce past data states, and every run's lineage reaches OpenLineage's file transport.

A probe DAG ingests one interval's rows (what interval ingestion does) and snapshots the repository
with the project's SnapshotOperator; the runs go through Airflow's `dag.test()` with past logical
dates, as a backfill runs them:

* a snapshotted interval run again reproduces its state hash for hash (reported "identical");
* the same interval with late data is reported "different" and tagged `+2`, its old tag untouched;
* an interval never snapshotted is ingested alone and tagged anew;
* the datacentric_reproduce DAG restores a state by id (and "latest") and verifies every hash.

The runs happen in a subprocess with its own Airflow home and DAG folder, with OpenLineage enabled
and its file transport, so the events can be read back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]

PROBE_DAG = '''
"""Backfill probe: reads the manifest, publishes one interval's rows, snapshots the repository."""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task
from datacentric.settings import BUNDLED_MANIFEST
from datacentric_airflow.assets import snapshot_asset
from datacentric_airflow.operators.manifest import ManifestSourcesOperator
from datacentric_airflow.operators.versioning import SnapshotOperator


@dag(dag_id="backfill_probe", schedule="@daily", start_date=datetime(2026, 10, 1), catchup=False,
     tags=["test"], doc_md=__doc__, default_args={"retries": 0})
def backfill_probe() -> None:
    @task
    def ingest_interval(data_interval_end=None, run_id=None) -> str:
        import json
        import os

        import pandas as pd
        from datacentric.repository.store import DataRepository
        from datacentric.settings import Settings

        key = data_interval_end.strftime("%Y%m%d")
        rows = 3 + json.loads(os.environ.get("PROBE_LATE", "{}")).get(key, 0)
        repo = DataRepository(Settings.from_env().repository).init()
        repo.publish_frame("raw", f"probe/{key}.parquet", pd.DataFrame({"day": [key] * rows, "n": range(rows)}),
                           run_id=run_id, provenance={"source": "probe", "origin": f"probe://{key}",
                                                      "stage": "ingest"})
        return key

    manifest = ManifestSourcesOperator(task_id="read_manifest", manifest=str(BUNDLED_MANIFEST))
    manifest >> ingest_interval() >> SnapshotOperator(
        task_id="snapshot", manifest=str(BUNDLED_MANIFEST), stage="raw", outlets=[snapshot_asset("probe", "raw")])


backfill_probe()
'''

SCENARIO = textwrap.dedent('''
    import json, os, sys
    from datetime import datetime, timezone

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    out = {}

    def xcom(dr, task_id):
        with create_session() as session:
            row = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dr.dag_id, task_ids=task_id,
                                                     key="return_value")).first()
            return XComModel.deserialize_value(row) if row is not None else None

    def extras(dr):
        with create_session() as session:
            return [e for (e,) in session.execute(select(AssetEvent.extra).where(
                AssetEvent.source_run_id == dr.run_id, AssetEvent.source_dag_id == dr.dag_id))]

    def probe(step, day, late=None):
        os.environ["PROBE_LATE"] = json.dumps(late or {})
        dr = bag.dags["backfill_probe"].test(logical_date=datetime(2026, 10, day, tzinfo=timezone.utc))
        out[step] = {"state": str(dr.state), "run_id": dr.run_id, "key": xcom(dr, "ingest_interval"),
                     "snapshot": xcom(dr, "snapshot"), "extras": extras(dr)}

    def reproduce(step, conf):
        dr = bag.dags["datacentric_reproduce"].test(run_conf=conf)
        out[step] = {"state": str(dr.state), "restore": xcom(dr, "restore_and_verify")}

    probe("first", 20)
    probe("second", 21)
    probe("first_again", 20)
    probe("second_late", 21, late={out["second"]["key"]: 2})
    probe("earlier_never_snapshotted", 18)
    workspace = sys.argv[2]
    reproduce("reproduce", {"state": out["first"]["snapshot"]["data_state_id"], "workspace": workspace})
    reproduce("reproduce_again", {"state": out["first"]["snapshot"]["data_state_id"], "workspace": workspace})
    reproduce("reproduce_latest", {"state": "latest", "workspace": ""})
    with open(sys.argv[1], "w") as handle:
        json.dump(out, handle, default=str)
''')


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, empty_airflow_db: Path) -> dict:
    base = tmp_path_factory.mktemp("backfill")
    dags, var, home = base / "dags", base / "var", base / "airflow"
    dags.mkdir()
    home.mkdir()
    (dags / "backfill_probe.py").write_text(PROBE_DAG)
    shutil.copy(PROJECT / "dags" / "datacentric_reproduce.py", dags / "datacentric_reproduce.py")
    (base / "scenario.py").write_text(SCENARIO)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPENLINEAGE__DISABLED": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(var / "openlineage.jsonl"), "append": True}),
        "DATACENTRIC_VAR": str(var),
        "DATACENTRIC_REPOSITORY": str(var / "repository"),
        "DATACENTRIC_DVC_REMOTE": str(var / "dvc-remote"),
    }
    env.pop("DATACENTRIC_DVC_REMOTE_ENDPOINT", None)
    var.mkdir()
    shutil.copyfile(empty_airflow_db, home / "airflow.db")  # a fresh, migrated metadata database
    results = base / "results.json"
    run = subprocess.run([sys.executable, str(base / "scenario.py"), str(results), str(base / "workspace")],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    out = json.loads(results.read_text())
    out["_paths"] = {"var": str(var), "workspace": str(base / "workspace")}
    out["_log"] = run.stdout + run.stderr
    return out


def _versioner(scenario: dict):
    from datacentric.versioning.versioner import Versioner

    return Versioner(Path(scenario["_paths"]["var"]) / "repository")


def test_every_run_succeeds(scenario: dict) -> None:
    steps = [k for k in scenario if not k.startswith("_")]
    assert {k: scenario[k]["state"] for k in steps} == {k: "success" for k in steps}


def test_new_intervals_get_their_own_tags(scenario: dict) -> None:
    first, second = scenario["first"]["snapshot"], scenario["second"]["snapshot"]
    assert first["reproduction"]["status"] == second["reproduction"]["status"] == "new"
    assert first["tag"] == f"backfill_probe/raw/{scenario['first']['key']}T000000Z"
    assert first["run"]["run_id"] == scenario["first"]["run_id"]
    assert first["data_state_id"] != second["data_state_id"]


def test_backfill_of_a_snapshotted_interval_reproduces_it_hash_for_hash(scenario: dict) -> None:
    first, again = scenario["first"]["snapshot"], scenario["first_again"]["snapshot"]
    assert again["reproduction"]["status"] == "identical"
    assert again["reproduction"]["files_compared"] == 1
    assert (again["data_state_id"], again["tag"], again["commit"]) == (first["data_state_id"], first["tag"],
                                                                      first["commit"])
    assert not again["changed"]
    assert "reproduced hash for hash" in scenario["_log"]


def test_late_data_is_reported_and_tagged_anew(scenario: dict, tmp_path: Path) -> None:
    second, late = scenario["second"]["snapshot"], scenario["second_late"]["snapshot"]
    key = scenario["second"]["key"]
    report = late["reproduction"]
    assert report["status"] == "different" and report["changed"] == [f"raw/probe/{key}.parquet"]
    assert late["tag"] == second["tag"] + "+2" and late["data_state_id"] != second["data_state_id"]
    versioner = _versioner(scenario)
    assert versioner.resolve(second["tag"])["commit"] == second["commit"], "the old tag moved"
    versioner.restore(second["tag"], tmp_path / "old")
    versioner.restore(late["tag"], tmp_path / "new")
    assert len(pd.read_parquet(tmp_path / "old" / f"raw/probe/{key}.parquet")) == 3
    assert len(pd.read_parquet(tmp_path / "new" / f"raw/probe/{key}.parquet")) == 5


def test_an_interval_never_snapshotted_is_ingested_alone(scenario: dict) -> None:
    from datacentric.repository.store import DataRepository

    step = scenario["earlier_never_snapshotted"]
    assert step["snapshot"]["reproduction"]["status"] == "new"
    root = Path(scenario["_paths"]["var"]) / "repository"
    written = [r.path for r in DataRepository(root).changelog() if r.run_id == step["run_id"]]
    assert written == [f"raw/probe/{step['key']}.parquet"]
    tags = subprocess.run(["git", "tag"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(tags) == sorted(scenario[s]["snapshot"]["tag"] for s in
                                  ("first", "second", "second_late", "earlier_never_snapshotted"))


def test_asset_events_carry_the_data_state_id(scenario: dict) -> None:
    for step in ("first", "second", "first_again", "second_late", "earlier_never_snapshotted"):
        snap = scenario[step]["snapshot"]
        assert [e["data_state_id"] for e in scenario[step]["extras"]] == [snap["data_state_id"]], step
        assert scenario[step]["extras"][0]["reproduction"] == snap["reproduction"]["status"]


def test_reproduce_dag_restores_and_verifies_a_state(scenario: dict) -> None:
    first = scenario["first"]["snapshot"]
    restored = scenario["reproduce"]["restore"]
    assert (restored["data_state_id"], restored["commit"]) == (first["data_state_id"], first["commit"])
    assert restored["files_verified"] == 1 and restored["reused"] is False
    workspace = Path(scenario["_paths"]["workspace"])
    assert [p.name for p in (workspace / "raw/probe").iterdir()] == [f"{scenario['first']['key']}.parquet"]
    assert scenario["reproduce_again"]["restore"]["reused"] is True
    latest = scenario["reproduce_latest"]["restore"]
    assert latest["data_state_id"] == scenario["earlier_never_snapshotted"]["snapshot"]["data_state_id"]
    assert latest["restored_to"].endswith(f"reproduce/{latest['data_state_id']}")
    assert latest["files_verified"] == 3


def test_openlineage_events_name_the_inputs_and_outputs(scenario: dict) -> None:
    var = Path(scenario["_paths"]["var"])
    events = [json.loads(line) for line in (var / "openlineage.jsonl").read_text().splitlines()]
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    by_run = {}
    for event in complete:
        facets = event["run"].get("facets", {})
        if "dataState" in facets and event["job"]["name"] == "backfill_probe.snapshot":
            by_run.setdefault(facets["dataState"]["dataStateId"], event)
    first = scenario["first"]["snapshot"]
    event = by_run[first["data_state_id"]]
    assert event["job"]["name"] == "backfill_probe.snapshot"
    root = str((var / "repository").resolve())
    assert [(o["name"], o["facets"]["version"]["datasetVersion"]) for o in event["outputs"]] == [
        (root, first["data_state_id"])]
    assert {(i["name"], i["facets"]["version"]["datasetVersion"]) for i in event["inputs"]} == {
        (f"{root}/{zone}", md5) for zone, md5 in first["pins"]["zones"].items()}
    manifest_events = [e for e in complete if e["job"]["name"] == "backfill_probe.read_manifest"]
    assert manifest_events and all(
        [i["name"] for i in e["inputs"]] == [str(PROJECT / "include/manifests/shop/manifest.yaml")]
        for e in manifest_events)
    restore = [e for e in complete if e["job"]["name"] == "datacentric_reproduce.restore_and_verify"]
    assert {e["run"]["facets"]["dataState"]["status"] for e in restore} == {"restored"}
    assert str(Path(scenario["_paths"]["workspace"]).resolve()) in {e["outputs"][0]["name"] for e in restore}
