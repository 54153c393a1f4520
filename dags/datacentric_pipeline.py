"""
### Data-centric pipeline

ingest → validate → snapshot → label → consolidate → label quality → snapshot → features →
snapshot

One run takes every source of the manifest through the whole pipeline:

1. **ingest** each source (mapped over the manifest) into the raw zone; unparseable rows are quarantined;
2. **validate** each source with a Great Expectations suite generated from the manifest plus the
   source's own expectations; failing rows are quarantined with their reasons; a source over its
   quarantine threshold, with a duplicated key or with schema drift under the `fail` policy fails the
   gate and stops everything downstream (the task's *Data Docs* link shows the run's results);
   orphan keys across sources are counted;
3. **snapshot** the data repository (DVC + git tag);
4. **label** the items that need it (N votes per item) with the label task's backend: the bundled
   manifest's simulated workforce answers at once; a manifest naming SageMaker Ground Truth or a
   Label Studio server starts one job per run and waits for it in the triggerer (deferred, no worker
   slot held); then **consolidate** the votes (majority vote or Dawid-Skene) and check **label
   quality** (low confidence, cleanlab label errors; an HTML report);
5. **snapshot** again, then **apply** the Feast repository generated from the manifest,
   **materialize** the online store (the data interval plus an overlap for late rows, in bounded
   chunks), **check its freshness** against the offline tables for sampled entities, and export a
   point-in-time **training set** with its recipe; a last **snapshot** pins it all under one data
   state id, from which the training set can be rebuilt exactly.

Trigger it from the UI with another manifest in the `manifest` Param, or from the command line:
`airflow dags test datacentric_pipeline -c '{"manifest": "/path/to/manifest.yaml"}'`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, chain, dag
from datacentric_airflow.assets import snapshot_asset, zone_asset
from datacentric_airflow.operators.features import (
    FeastApplyOperator,
    FeastFreshnessCheckOperator,
    FeastMaterializeOperator,
    TrainingSetOperator,
)
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.labeling import (
    ConsolidateLabelsOperator,
    LabelingRoundOperator,
    LabelQualityOperator,
)
from datacentric_airflow.operators.manifest import ManifestSourcesOperator
from datacentric_airflow.operators.validation import RelationshipCheckOperator, ValidateSourceOperator
from datacentric_airflow.operators.versioning import SnapshotOperator

BUNDLED_MANIFEST = str(Path(__file__).resolve().parents[1] / "include" / "manifests" / "shop" / "manifest.yaml")
MANIFEST = "{{ params.manifest }}"
NAME = "shop"  # Asset names of the bundled manifest; another manifest's runs share them.
BY_SOURCE = "{{ task.source }}"  # map_index_template: the source a mapped task instance handles


@dag(
    dag_id="datacentric_pipeline",
    schedule="@daily",
    start_date=datetime(2026, 10, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["datacentric", "pipeline"],
    default_args={"owner": "datacentric", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "manifest": Param(
            BUNDLED_MANIFEST,
            type="string",
            title="Manifest",
            description="Path of the manifest YAML that lists the sources, label task and features.",
        ),
        "ingest_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Ingest from",
            description="With 'Ingest until': ingest exactly this window (a backfill); empty: the run's data "
            "interval, or everything new up to the run's date when the interval is empty.",
        ),
        "ingest_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Ingest until",
            description="End (exclusive) of the ingestion window; empty: the data interval's end, or the "
            "trigger time of a manual run.",
        ),
        "materialize_start": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Materialize from",
            description="Start of an explicit online-store window; empty: the run's data interval with its "
            "overlap (and any runs skipped since the last one).",
        ),
        "materialize_end": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Materialize until",
            description="End (exclusive) of the online-store window; empty: the data interval's end, or the "
            "trigger time of a manual run.",
        ),
    },
)
def datacentric_pipeline() -> None:
    sources = ManifestSourcesOperator(task_id="read_manifest", manifest=MANIFEST)
    # Each mapped task instance is named by its source in the UI ("validate [reviews]", not "validate [1]").
    ingest = IngestSourceOperator.partial(
        task_id="ingest", manifest=MANIFEST, outlets=[zone_asset(NAME, "raw")], map_index_template=BY_SOURCE,
        window_start="{{ params.ingest_start or '' }}", window_end="{{ params.ingest_end or '' }}",
    ).expand(source=sources.output)
    validate = ValidateSourceOperator.partial(
        task_id="validate", manifest=MANIFEST, inlets=[zone_asset(NAME, "raw")],
        outlets=[zone_asset(NAME, "validated")], map_index_template=BY_SOURCE,
    ).expand(source=sources.output)
    relationships = RelationshipCheckOperator(task_id="check_relationships", manifest=MANIFEST)
    snapshot_validated = SnapshotOperator(
        task_id="snapshot_validated", manifest=MANIFEST, stage="validated",
        inlets=[zone_asset(NAME, "raw"), zone_asset(NAME, "validated")], outlets=[snapshot_asset(NAME, "validated")],
    )
    label = LabelingRoundOperator(task_id="label", manifest=MANIFEST)
    consolidate = ConsolidateLabelsOperator(
        task_id="consolidate",
        manifest=MANIFEST,
        job_name="{{ ti.xcom_pull(task_ids='label')['job_name'] }}",
        outlets=[zone_asset(NAME, "labels")],
    )
    label_quality = LabelQualityOperator(
        task_id="label_quality",
        manifest=MANIFEST,
        job_name="{{ ti.xcom_pull(task_ids='label')['job_name'] }}",
        outlets=[zone_asset(NAME, "reports")],
    )
    snapshot_labels = SnapshotOperator(
        task_id="snapshot_labels", manifest=MANIFEST, stage="labels",
        inlets=[zone_asset(NAME, "labels")], outlets=[snapshot_asset(NAME, "labels")],
    )
    feast_apply = FeastApplyOperator(task_id="feast_apply", manifest=MANIFEST)
    materialize = FeastMaterializeOperator(
        task_id="materialize",
        manifest=MANIFEST,
        start="{{ params.materialize_start or '' }}",
        end="{{ params.materialize_end or '' }}",
        outlets=[zone_asset(NAME, "online")],
    )
    check_freshness = FeastFreshnessCheckOperator(task_id="check_freshness", manifest=MANIFEST)
    training_set = TrainingSetOperator(
        task_id="training_set", manifest=MANIFEST, outlets=[zone_asset(NAME, "training_sets")]
    )
    snapshot_final = SnapshotOperator(
        task_id="snapshot_final", manifest=MANIFEST, stage="final", inlets=[zone_asset(NAME, "training_sets")],
        outlets=[snapshot_asset(NAME)],
    )

    chain(
        sources,
        ingest,
        validate,
        relationships,
        snapshot_validated,
        label,
        consolidate,
        label_quality,
        snapshot_labels,
        feast_apply,
        materialize,
        check_freshness,
        training_set,
        snapshot_final,
    )


datacentric_pipeline()
