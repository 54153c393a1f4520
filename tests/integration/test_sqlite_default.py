"""The embedded default (SQLite, LocalExecutor, the Makefile's settings) survives what a person does with
it: `airflow backfill create` for three days, twice at once, while the scheduler runs, with the first
task queued before the API server is up (as right after `make ui`).

The processes are real (tests/integration/airflow_processes.py): a scheduler and a dag-processor start
first; two backfill calls are made at once; once the scheduler has queued the first task, the API
server starts (the task's supervisor must keep asking for it); then the three runs go through the whole
pipeline on the bundled sample data. Airflow allows one active backfill per DAG, so of two calls made at
once one may be refused with Airflow's own message; neither may fail on the database. Each run is
backfilled with `--max-active-runs 1`: backfill runs do not count against the DAG's max_active_runs
(docs/how-to/run-a-backfill.md).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from tests.integration.airflow_processes import AirflowProcesses, airflow_home  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DAG_ID = "datacentric_pipeline"
FROM, TO = "2026-10-29", "2026-10-31"
DAYS = ["2026-10-29", "2026-10-30", "2026-10-31"]
REFUSED = "There can be only one running backfill per Dag"
DATABASE_ERRORS = ("database is locked", "OperationalError", "StaleDataError")
RUNS_TIMEOUT = 1200


@pytest.fixture(scope="module")
def backfilled(airflow_home: AirflowProcesses) -> SimpleNamespace:  # noqa: F811
    processes = airflow_home
    started = time.monotonic()
    processes.start(("scheduler", "dag-processor"))
    processes.wait_for_dag(DAG_ID)
    command = ("backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM, "--to-date", TO,
               "--max-active-runs", "1")
    calls = [processes.airflow_in_background(*command) for _ in range(2)]
    outcomes = []
    for call in calls:
        out, err = call.communicate(timeout=300)
        outcomes.append(SimpleNamespace(returncode=call.returncode, output=out + err))
    # The API server is not up yet: the first task the scheduler queues must wait for it.
    first = processes.wait_for("SELECT run_id, task_id, map_index FROM task_instance WHERE state = 'queued'",
                               what="the scheduler to queue the first task")[0]
    processes.start(("api-server",))
    deadline = time.monotonic() + RUNS_TIMEOUT
    runs = processes.dag_runs(DAG_ID)
    while time.monotonic() < deadline and not (runs and all(r["state"] in ("success", "failed") for r in runs)):
        time.sleep(5)
        runs = processes.dag_runs(DAG_ID)
    print(f"\nbackfill of {len(runs)} runs done in {time.monotonic() - started:.0f} s")
    return SimpleNamespace(processes=processes, outcomes=outcomes, first=first, runs=runs)


def test_each_backfill_call_succeeds_or_is_refused_by_airflows_one_backfill_rule(backfilled) -> None:
    outcomes = backfilled.outcomes
    for outcome in outcomes:
        assert not [e for e in DATABASE_ERRORS if e in outcome.output], outcome.output[-4000:]
        assert outcome.returncode == 0 or REFUSED in outcome.output, outcome.output[-4000:]
    assert any(outcome.returncode == 0 for outcome in outcomes)


def test_every_day_is_one_run_and_every_run_succeeds(backfilled) -> None:
    processes, runs = backfilled.processes, backfilled.runs
    assert sorted(r["logical_date"][:10] for r in runs) == DAYS
    assert {r["run_type"] for r in runs} == {"backfill"}
    failed = {r["dag_run_id"]: processes.failure_report(DAG_ID, r["dag_run_id"]) for r in runs
              if r["state"] != "success"}
    assert not failed, "\n".join(f"{run}:\n{report}" for run, report in failed.items())


def test_the_task_queued_before_the_api_server_was_up_ran_at_its_first_try(backfilled) -> None:
    run_id, task_id, map_index = backfilled.first
    tis = backfilled.processes.task_instances(DAG_ID, run_id)
    ti = next(t for t in tis if (t["task_id"], t["map_index"]) == (task_id, map_index))
    assert (ti["state"], ti["try_number"]) == ("success", 1)


def test_the_scheduler_and_the_other_processes_stay_up_without_database_errors(backfilled) -> None:
    processes = backfilled.processes
    for name in ("scheduler", "dag-processor", "api-server"):
        assert processes.alive(name), f"{name} exited\n{processes.log(name)}"
        log = (processes.logs / f"{name}.log").read_text(errors="replace")
        assert not [e for e in DATABASE_ERRORS if e in log], f"{name}:\n{processes.log(name)}"


def test_mapped_task_instances_are_named_by_their_source(backfilled) -> None:
    processes = backfilled.processes
    for run in backfilled.runs:
        names = {(t["task_id"], t["rendered_map_index"]) for t in processes.task_instances(DAG_ID, run["dag_run_id"])
                 if t["map_index"] >= 0}
        assert names == {(task, source) for task in ("ingest", "validate")
                         for source in ("products", "reviews", "events")}, run["dag_run_id"]


def test_the_api_server_serves_data_docs_offline_with_the_gate_verdict(backfilled) -> None:
    from datacentric.validation.data_docs import external_assets
    from datacentric.validation.suite import docs_root
    from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX

    processes = backfilled.processes
    site = docs_root(processes.var / "gx").resolve()
    first_run = min(backfilled.runs, key=lambda r: r["logical_date"])["dag_run_id"]
    page = next(site.glob(f"validations/reviews/{first_run}/*/*.html"))
    answer = processes.get(f"{DATA_DOCS_URL_PREFIX}/{quote(page.relative_to(site).as_posix())}")
    assert answer.status_code == 200, answer.text[:500]
    assert external_assets(answer.text) == []
    banner = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text.split("<!-- datacentric:gate -->")[1]))
    # The bundled reviews hold out-of-range ratings and malformed ids: quarantined, within the limit.
    assert re.search(r"Quarantine gate: passed [\d,]+ of [\d,]+ rows quarantined \([\d.]+% ≤ limit [\d.]+%\)",
                     banner), banner[:500]
    assert Path(page).read_text(encoding="utf-8").count("https://cdn") == 0  # the built page itself too
