"""
### Example: a labeling round on SageMaker Ground Truth

Ingests and validates the `reviews` source of `tests/system/manifests/reviews_ground_truth/`, then
runs one labeling round as a Ground Truth text-classification labeling job: the round writes the
input manifest, the label categories and the worker template to S3, creates the job (its name is
derived from the run; a retry finds the job instead of paying for a second one) with
`workers_per_item` workers per item, and waits in the triggerer, holding no worker slot. When the
job completes, every worker's answer is read back, the votes are consolidated (Dawid-Skene), the
labels' quality is checked, and the repository is snapshotted.

For AWS accounts that already use Ground Truth (it is closed to new customers). Needs the Airflow
AWS connection `aws_default`, the bucket, the execution role and the work team of the manifest's
`ground_truth` block; `docs/how-to/ground-truth.md` quotes this file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, chain, dag
from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.labeling import ConsolidateLabelsOperator, LabelQualityOperator
from datacentric_airflow.operators.validation import ValidateSourceOperator
from datacentric_airflow.operators.versioning import SnapshotOperator

MANIFEST_FILE = str(Path(__file__).resolve().parent / "manifests" / "reviews_ground_truth" / "manifest.yaml")
MANIFEST = "{{ params.manifest }}"


@dag(
    dag_id="example_ground_truth",
    schedule=None,
    start_date=datetime(2026, 10, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["example", "datacentric", "labeling"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={"manifest": Param(MANIFEST_FILE, type="string", title="Manifest",
                              description="A manifest whose label task has a ground_truth block.")},
)
def example_ground_truth() -> None:
    ingest = IngestSourceOperator(task_id="ingest", manifest=MANIFEST, source="reviews")
    validate = ValidateSourceOperator(task_id="validate", manifest=MANIFEST, source="reviews")
    # [START ground_truth]
    label = GroundTruthLabelingOperator(task_id="label", manifest=MANIFEST)  # deferrable by default
    job_name = "{{ ti.xcom_pull(task_ids='label')['job_name'] }}"
    consolidate = ConsolidateLabelsOperator(task_id="consolidate", manifest=MANIFEST, job_name=job_name)
    label_quality = LabelQualityOperator(task_id="label_quality", manifest=MANIFEST, job_name=job_name)
    snapshot = SnapshotOperator(task_id="snapshot_labels", manifest=MANIFEST, stage="labels")
    # [END ground_truth]
    chain(ingest, validate, label, consolidate, label_quality, snapshot)


example_ground_truth()
