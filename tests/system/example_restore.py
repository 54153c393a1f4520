"""
### Example: restore a past data state, read it, and clean up

A data state id (`ds-…`) names one snapshot of the data repository and pins its content, the
manifest, the label version, the feature definitions and the code revision. This DAG restores one
state (an id, a tag, a commit, an ISO date for the data's date, or `latest`) into a
workspace folder, which verifies every file against the hash DVC recorded for it; then it reads the
restored validated zone, as a training job would, and finally removes the workspace.

`docs/how-to/restore-a-data-state.md` quotes this file. The `datacentric_reproduce` DAG restores a
state the same way and keeps the workspace.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task
from datacentric_airflow.operators.versioning import RestoreStateOperator


@dag(
    dag_id="example_restore",
    schedule=None,
    start_date=datetime(2026, 10, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["example", "datacentric"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "state": Param("latest", type="string", minLength=1, title="Data state",
                       description="A data state id (ds-…), a tag, a commit, an ISO date or 'latest'."),
        "workspace": Param("", type="string", title="Workspace folder",
                           description="Where to restore; empty: $DATACENTRIC_VAR/reproduce/<data state id>."),
    },
)
def example_restore() -> None:
    # [START restore]
    restore = RestoreStateOperator(task_id="restore", state="{{ params.state }}",
                                   workspace="{{ params.workspace }}")

    @task
    def count_validated_rows(restored: dict) -> dict[str, int]:
        """Rows per source in the restored validated zone: the exact data of that state."""
        from pathlib import Path

        import pyarrow.parquet as pq

        zone = Path(restored["restored_to"]) / "validated"
        return {source.name: sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(source.rglob("*.parquet")))
                for source in sorted(zone.iterdir()) if source.is_dir()}

    @task
    def remove_workspace(restored: dict) -> None:
        import shutil

        shutil.rmtree(restored["restored_to"], ignore_errors=True)

    # The restore is the setup and the removal its teardown: the workspace goes whatever the reading
    # task does, and the run's state is the reading task's.
    count_validated_rows(restore.output) >> remove_workspace(restore.output).as_teardown(setups=restore)
    # [END restore]


example_restore()
