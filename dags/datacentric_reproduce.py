"""
### Reproduce a data state: restore it by id, tag or date and verify every hash

Every snapshot of the data repository has a **data state id** (`ds-…`) that pins the repository's
content, the manifest and its state file, the label version, the feature definitions and the code
revision. This DAG restores one state into a workspace folder (a git + DVC checkout of the data
repository at that state) and checks every file against the md5 DVC recorded for it. Data comes from
the local DVC cache when the repository is on this machine, else from the DVC remote.

Trigger it with the `state` Param:

* a data state id: `ds-cbcd8f0a24e98e1f` (from a snapshot task's XCom, an Asset event or
  `python -m datacentric states`);
* a tag: `datacentric_pipeline/final/20261031T000000Z`;
* an ISO date or time: the data's date, the last state whose data interval ends at or before it
  (`2026-10-31` means the end of that day, UTC, so the state of that day's interval is found); with
  the `dates` Param set to `snapshot`, the last state snapshotted at or before it (wall-clock time);
* `latest`.

`workspace` names the folder (empty: `$DATACENTRIC_VAR/reproduce/<data state id>`). Running again
for a workspace that already holds the state only verifies it again. The task's XCom holds the state's
pins, so the code revision and manifest that produced it can be checked out next to it.

From the command line: `airflow dags test datacentric_reproduce -c '{"state": "latest"}'`, or
without Airflow `python -m datacentric restore <state> <folder>`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag
from datacentric_airflow.assets import snapshot_asset
from datacentric_airflow.operators.versioning import RestoreStateOperator

NAME = "shop"


@dag(
    dag_id="datacentric_reproduce",
    schedule=None,
    start_date=datetime(2026, 10, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["datacentric", "versioning"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "state": Param(
            "latest",
            type="string",
            minLength=1,
            title="Data state",
            description="A data state id (ds-…), a tag, a commit, an ISO date/time or 'latest'.",
        ),
        "dates": Param(
            "data",
            type="string",
            enum=["data", "snapshot"],
            title="A date names",
            description="data: the data's date, the last state whose interval ends at or before it; "
            "snapshot: the last state snapshotted at or before it (wall-clock time).",
        ),
        "workspace": Param(
            "",
            type="string",
            title="Workspace folder",
            description="Where to restore the state; empty: $DATACENTRIC_VAR/reproduce/<data state id>.",
        ),
    },
)
def datacentric_reproduce() -> None:
    RestoreStateOperator(
        task_id="restore_and_verify",
        state="{{ params.state }}",
        workspace="{{ params.workspace }}",
        dates="{{ params.dates }}",
        inlets=[snapshot_asset(NAME)],
    )


datacentric_reproduce()
