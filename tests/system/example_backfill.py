"""
### Example: a daily ingestion that backfills, and reproduces past data states

Each run has a real data interval `[D, D+1)` (`CronDataIntervalTimetable`), so ingestion takes
exactly the files dated `D` (the `orders` source names its files by date), and the snapshot is
tagged `example_backfill/orders/<end of the interval>`. Running an interval again, as a backfill or a
retry does, compares what it produced with the tagged state file by file: `identical` reuses the tag
and its data state id; `different` (late or changed data) tags a new state `<tag>+2` and leaves the
old tag where it was. The last task logs which of the two, or `new` for a first run.

The first task stands in for the order service: it writes the interval's file once.

`docs/how-to/run-a-backfill.md` quotes this file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import CronDataIntervalTimetable, chain, dag, task
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.validation import ValidateSourceOperator
from datacentric_airflow.operators.versioning import SnapshotOperator

MANIFEST = str(Path(__file__).resolve().parent / "manifests" / "orders" / "manifest.yaml")


# [START backfill_dag]
@dag(
    dag_id="example_backfill",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),  # intervals [D, D+1)
    start_date=datetime(2026, 10, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["example", "datacentric"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(seconds=10)},
)
def example_backfill() -> None:
    @task
    def write_interval_file(data_interval_start: datetime | None = None) -> str:
        """The order service's export of the interval's day (written once; later runs find it)."""
        from datacentric.settings import Settings

        day = data_interval_start.strftime("%Y-%m-%d")
        path = Settings.from_env().landing_root / "example_orders" / f"orders-{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            rows = [f"O{day.replace('-', '')}{n:02d},{200 + n},{5 + 2.5 * n:.2f},{day}T{8 + n:02d}:15:00Z"
                    for n in range(4)]
            path.write_text("order_id,customer_id,amount,ordered_at\n" + "\n".join(rows) + "\n")
        return str(path)

    ingest = IngestSourceOperator(task_id="ingest", manifest=MANIFEST, source="orders")
    validate = ValidateSourceOperator(task_id="validate", manifest=MANIFEST, source="orders")
    snapshot = SnapshotOperator(task_id="snapshot", manifest=MANIFEST, stage="orders")

    @task
    def report(snapshot: dict) -> str:
        """new, identical or different: what this run's snapshot found for its interval."""
        status = snapshot["reproduction"]["status"]
        print(f"{snapshot['tag']}: {status}; data state {snapshot['data_state_id']}")
        return status

    chain(write_interval_file(), ingest, validate, snapshot)
    report(snapshot.output)
# [END backfill_dag]


example_backfill()
