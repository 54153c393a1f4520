"""
### Data-centric pipeline: ingest → validate → snapshot → label → consolidate → snapshot → features → snapshot

One run takes every source of the manifest through the whole pipeline:

1. **ingest** each source (mapped over the manifest) into the raw zone; unparseable rows are quarantined;
2. **validate** each source with a Great Expectations suite generated from the manifest; failing rows
   are quarantined with their reasons; a source over its quarantine threshold fails the gate and
   stops everything downstream; orphan keys across sources are counted;
3. **snapshot** the data repository (DVC + git tag);
4. **label** the items that need it (N votes per item) and **consolidate** the votes;
5. **snapshot** again, then **apply** the Feast repository generated from the manifest,
   **materialize** the online store and export a point-in-time **training set**; a last **snapshot**
   pins it all under one data state id.

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
    FeastMaterializeOperator,
    TrainingSetOperator,
)
from datacentric_airflow.operators.ingest import IngestSourceOperator
from datacentric_airflow.operators.labeling import ConsolidateLabelsOperator, LabelingRoundOperator
from datacentric_airflow.operators.manifest import ManifestSourcesOperator
from datacentric_airflow.operators.validation import RelationshipCheckOperator, ValidateSourceOperator
from datacentric_airflow.operators.versioning import SnapshotOperator

BUNDLED_MANIFEST = str(Path(__file__).resolve().parents[1] / "include" / "manifests" / "shop" / "manifest.yaml")
MANIFEST = "{{ params.manifest }}"
NAME = "shop"  # Asset names of the bundled manifest; another manifest's runs share them.


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
    },
)
def datacentric_pipeline() -> None:
    sources = ManifestSourcesOperator(task_id="read_manifest", manifest=MANIFEST)
    ingest = IngestSourceOperator.partial(
        task_id="ingest", manifest=MANIFEST, outlets=[zone_asset(NAME, "raw")]
    ).expand(source=sources.output)
    validate = ValidateSourceOperator.partial(
        task_id="validate", manifest=MANIFEST, outlets=[zone_asset(NAME, "validated")]
    ).expand(source=sources.output)
    relationships = RelationshipCheckOperator(task_id="check_relationships", manifest=MANIFEST)
    snapshot_validated = SnapshotOperator(task_id="snapshot_validated", manifest=MANIFEST, stage="validated")
    label = LabelingRoundOperator(task_id="label", manifest=MANIFEST)
    consolidate = ConsolidateLabelsOperator(
        task_id="consolidate",
        manifest=MANIFEST,
        job_name="{{ ti.xcom_pull(task_ids='label')['job_name'] }}",
        outlets=[zone_asset(NAME, "labels")],
    )
    snapshot_labels = SnapshotOperator(task_id="snapshot_labels", manifest=MANIFEST, stage="labels")
    feast_apply = FeastApplyOperator(task_id="feast_apply", manifest=MANIFEST)
    materialize = FeastMaterializeOperator(task_id="materialize", manifest=MANIFEST, outlets=[zone_asset(NAME, "online")])
    training_set = TrainingSetOperator(
        task_id="training_set", manifest=MANIFEST, outlets=[zone_asset(NAME, "training_sets")]
    )
    snapshot_final = SnapshotOperator(
        task_id="snapshot_final", manifest=MANIFEST, stage="final", outlets=[snapshot_asset(NAME)]
    )

    chain(
        sources,
        ingest,
        validate,
        relationships,
        snapshot_validated,
        label,
        consolidate,
        snapshot_labels,
        feast_apply,
        materialize,
        training_set,
        snapshot_final,
    )


datacentric_pipeline()
