"""Feast: apply the generated feature repository, materialize the online store, check its freshness,
export training sets.

Every operator takes `online_store_conn_id`: an Airflow connection to a Redis server used as the
online store (default: DATACENTRIC_ONLINE_STORE_CONN_ID, else DATACENTRIC_ONLINE_STORE, else SQLite;
see datacentric_airflow.hooks.features).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.hooks.features import FeastHook
from datacentric_airflow.hooks.repository import DataRepositoryHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class FeastApplyOperator(BaseOperator):
    """Export the feature tables from the validated zone, render the Feast repository from the
    manifest and register it (what `feast apply` does).

    :param manifest: path of the manifest YAML (templated)
    :param online_store_conn_id: Airflow connection of a Redis online store (default: see the module)
    """

    template_fields: Sequence[str] = ("manifest",)
    ui_color = "#e0f7f4"

    def __init__(self, *, manifest: str, online_store_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.online_store_conn_id = online_store_conn_id

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.features import apply_features
        from datacentric.manifest import load_manifest

        hook = DataRepositoryHook()
        feast = FeastHook(self.online_store_conn_id)
        feast.prepare_environment()
        return apply_features(load_manifest(self.manifest), hook.get_repository(), hook.settings.feature_repo,
                              feast.online_store(), run_id=run_info(context).run_id)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import stage_lineage

        return stage_lineage(task_instance, stage="features")


class FeastMaterializeOperator(BaseOperator):
    """Materialize the online store for the run's data interval, in bounded-memory chunks.

    The window of each feature view is the data interval reaching back the manifest's
    `features.materialization.overlap_hours` for late rows; after skipped runs it reaches back to the
    last materialized end, and the first time back one ttl (datacentric.features.materialize.materialization_window).
    A manual run without a data interval materializes up to its run_after. `start` (and `end`) give
    an explicit window instead, e.g. from the DAG's Params.

    :param manifest: path of the manifest YAML (templated)
    :param start: window start, ISO timestamp (templated); empty: the planned window
    :param end: window end, ISO timestamp (templated); empty: the data interval's end (or run_after)
    :param online_store_conn_id: Airflow connection of a Redis online store (default: see the module)
    """

    template_fields: Sequence[str] = ("manifest", "start", "end")
    ui_color = "#e0f7f4"

    def __init__(
        self,
        *,
        manifest: str,
        start: str | None = None,
        end: str | None = None,
        online_store_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.start = start
        self.end = end
        self.online_store_conn_id = online_store_conn_id

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.features import materialize_run
        from datacentric.manifest import load_manifest
        from datacentric.times import parse_instant

        info = run_info(context)
        FeastHook(self.online_store_conn_id).prepare_environment()
        repo = DataRepositoryHook().get_feature_repo()
        result = materialize_run(load_manifest(self.manifest), repo, info.interval_start,
                                 parse_instant(self.end, "end") or info.interval_end,
                                 start=parse_instant(self.start, "start"))
        for view, stats in result.items():
            self.log.info("materialized %s over [%s, %s): %d offline rows, %d entity rows written in %d chunks",
                          view, stats["start"], stats["end"], stats["rows"], stats["written"], stats["chunks"])
        return {"feature_repo": str(repo), "views": result}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import materialize_lineage

        return materialize_lineage(task_instance, self.manifest)


class FeastFreshnessCheckOperator(BaseOperator):
    """Check that the online store holds the latest offline values: for a sample of entities (half
    from the last materialized window), online values read through Feast are compared with the
    latest offline rows before the materialized end. Fails, naming the entities, features and both
    values, on any mismatch.

    :param manifest: path of the manifest YAML (templated)
    :param sample: entities per feature view (default: the manifest's
        `features.materialization.freshness_sample`)
    :param online_store_conn_id: Airflow connection of a Redis online store (default: see the module)
    """

    template_fields: Sequence[str] = ("manifest",)
    ui_color = "#e0f7f4"

    def __init__(
        self, *, manifest: str, sample: int | None = None, online_store_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.sample = sample
        self.online_store_conn_id = online_store_conn_id

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.features import check_freshness
        from datacentric.features.tables import features_of
        from datacentric.manifest import load_manifest

        spec = features_of(load_manifest(self.manifest).spec)
        FeastHook(self.online_store_conn_id).prepare_environment()
        repo = DataRepositoryHook().get_feature_repo()
        sample = self.sample if self.sample is not None else spec.materialization.freshness_sample
        reports = check_freshness(repo, sample=sample, chunk_rows=spec.materialization.chunk_rows)
        for view, report in reports.items():
            self.log.info("%s is fresh: %d sampled entities match the offline rows before %s",
                          view, report["checked"], report["high_water"])
        return reports

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import freshness_lineage

        return freshness_lineage(self.manifest)


class TrainingSetOperator(BaseOperator):
    """Build the point-in-time training set of the label task: every consolidated label joined with
    the features of its entities as of the item's event time, written to the training-sets zone with
    its recipe (inputs and their hashes), so the data state snapshotted next can rebuild it exactly
    (datacentric.features.training.rebuild_training_set).

    :param manifest: path of the manifest YAML (templated)
    :param online_store_conn_id: Airflow connection of a Redis online store (default: see the module)
    """

    template_fields: Sequence[str] = ("manifest",)
    ui_color = "#e0f7f4"

    def __init__(self, *, manifest: str, online_store_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.online_store_conn_id = online_store_conn_id

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.features.training import export_training_set
        from datacentric.manifest import load_manifest

        info = run_info(context)
        hook = DataRepositoryHook()
        FeastHook(self.online_store_conn_id).prepare_environment()
        result = export_training_set(load_manifest(self.manifest), hook.get_repository(), hook.settings.feature_repo,
                                     name=info.interval_key, run_id=info.run_id)
        self.log.info("training set %s: %d rows, features %s; recipe %s", result["path"], result["rows"],
                      result["features"], result["recipe"])
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import stage_lineage

        return stage_lineage(task_instance, stage="training_set")
