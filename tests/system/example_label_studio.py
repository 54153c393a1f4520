"""
### Example: a labeling round on a self-hosted Label Studio server

Ingests and validates the `reviews` source of `tests/system/manifests/reviews_label_studio/`, then
runs one labeling round in Label Studio: the round's project (titled with the job name derived from
the run) gets the items that need a label, and every item is annotated by `workers_per_item`
people. The labeling task waits in the triggerer, holding no worker slot, until every item has its
annotations; then the votes are consolidated (Dawid-Skene), the labels' quality is checked, and the
repository is snapshotted.

Needs a Label Studio server and the Airflow connection `label_studio_default` (an http connection:
host is the server's URL, password an API token); `docs/how-to/label-studio.md` says how to start
one, and quotes this file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, chain, dag
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.label_studio import LabelStudioLabelingOperator
from datacentric_airflow.operators.labeling import ConsolidateLabelsOperator, LabelQualityOperator
from datacentric_airflow.operators.validation import ValidateSourceOperator
from datacentric_airflow.operators.versioning import SnapshotOperator

MANIFEST_FILE = str(Path(__file__).resolve().parent / "manifests" / "reviews_label_studio" / "manifest.yaml")
MANIFEST = "{{ params.manifest }}"


@dag(
    dag_id="example_label_studio",
    schedule=None,
    start_date=datetime(2026, 10, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["example", "datacentric", "labeling"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={"manifest": Param(MANIFEST_FILE, type="string", title="Manifest",
                              description="A manifest whose label task has a label_studio block.")},
)
def example_label_studio() -> None:
    ingest = IngestSourceOperator(task_id="ingest", manifest=MANIFEST, source="reviews")
    validate = ValidateSourceOperator(task_id="validate", manifest=MANIFEST, source="reviews")
    # [START label_studio]
    label = LabelStudioLabelingOperator(task_id="label", manifest=MANIFEST)  # deferrable by default
    job_name = "{{ ti.xcom_pull(task_ids='label')['job_name'] }}"
    consolidate = ConsolidateLabelsOperator(task_id="consolidate", manifest=MANIFEST, job_name=job_name)
    label_quality = LabelQualityOperator(task_id="label_quality", manifest=MANIFEST, job_name=job_name)
    snapshot = SnapshotOperator(task_id="snapshot_labels", manifest=MANIFEST, stage="labels")
    # [END label_studio]
    chain(ingest, validate, label, consolidate, label_quality, snapshot)


example_label_studio()
