"""
### Example: add a source to the manifest, then ingest, validate and snapshot it

The manifest `tests/system/manifests/orders/manifest.yaml` declares one source, `orders`: a CSV file
per day in the landing folder `example_orders`. The setup task writes three days of such files, one
row of them unreadable as a number and one breaking the `min: 0` rule, standing in for the order
service's exports. The body is what the pipeline does for every source of a manifest: ingest (rows
that cannot be typed are quarantined), validate (rows that break a rule are quarantined with their
reasons; the gate passes while the quarantined share stays under `max_quarantine_fraction`), and
snapshot the repository. The teardown removes the example's landing files; what was ingested stays in
the repository, recorded in its change log.

`docs/how-to/add-a-source.md` quotes this file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, chain, dag, task
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.manifest import ManifestSourcesOperator
from datacentric_airflow.operators.validation import ValidateSourceOperator
from datacentric_airflow.operators.versioning import SnapshotOperator

MANIFEST_FILE = str(Path(__file__).resolve().parent / "manifests" / "orders" / "manifest.yaml")
MANIFEST = "{{ params.manifest }}"
EXAMPLE_DAYS = ("2026-09-01", "2026-09-02", "2026-09-03")


@dag(
    dag_id="example_add_source",
    schedule=None,
    start_date=datetime(2026, 9, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["example", "datacentric"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(seconds=10)},
    params={"manifest": Param(MANIFEST_FILE, type="string", title="Manifest",
                              description="The manifest that declares the new source.")},
)
def example_add_source() -> None:
    @task
    def write_example_files() -> list[str]:
        """Three daily exports of the order service: 5 orders a day, two of them bad."""
        from datacentric.settings import Settings

        folder = Settings.from_env().landing_root / "example_orders"
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for day_number, day in enumerate(EXAMPLE_DAYS):
            path = folder / f"orders-{day}.csv"
            rows = ["order_id,customer_id,amount,ordered_at"]
            for n in range(5):
                amount = f"{10 + 7.5 * n:.2f}"
                if (day_number, n) == (1, 2):
                    amount = "cheap"  # not a number: quarantined at ingestion, with the line
                if (day_number, n) == (2, 4):
                    amount = "-5.00"  # breaks `min: 0`: quarantined by the validation gate
                rows.append(f"O{day.replace('-', '')}{n:02d},{100 + n},{amount},{day}T{9 + n:02d}:30:00Z")
            if not path.exists():
                path.write_text("\n".join(rows) + "\n")
            written.append(str(path))
        return written

    # [START add_source]
    sources = ManifestSourcesOperator(task_id="read_manifest", manifest=MANIFEST)
    ingest = IngestSourceOperator.partial(task_id="ingest", manifest=MANIFEST).expand(source=sources.output)
    validate = ValidateSourceOperator.partial(task_id="validate", manifest=MANIFEST).expand(source=sources.output)
    snapshot = SnapshotOperator(task_id="snapshot", manifest=MANIFEST, stage="validated")
    chain(sources, ingest, validate, snapshot)
    # [END add_source]

    @task
    def remove_example_files(paths: list[str]) -> None:
        for path in paths:
            Path(path).unlink(missing_ok=True)

    # Setup -> body -> teardown: the files go whatever the body does, and the run's state is the body's.
    files = write_example_files().as_setup()
    chain(files, sources)
    snapshot >> remove_example_files(files).as_teardown(setups=files)


example_add_source()
