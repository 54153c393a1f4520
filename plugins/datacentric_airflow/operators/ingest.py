"""Ingests one source of the manifest into the raw zone of the data repository."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.hooks.repository import DataRepositoryHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class IngestSourceOperator(BaseOperator):
    """Ingest the new units (files, objects, table partitions, API pages) of one source.

    The run's data interval [start, end) is the window: sources that date their units (files by
    `date_in_name`, SQL by `incremental_column`, HTTP by `window`) take exactly the units in it, so a
    backfill of a past interval ingests exactly that interval. A run with an empty interval (Airflow's
    cron trigger timetables, manual runs) catches up: everything before its end not ingested yet.
    `window_start`/`window_end` override the interval, e.g. from a manual run's Params.

    Rows that cannot be parsed or typed are quarantined with a reason; the returned counts reconcile:
    rows_in = rows_published + rows_quarantined. What the run learned goes to the repository's state
    file (`state/<manifest>.lock.yaml`).

    :param manifest: path of the manifest YAML (templated)
    :param source: name of the source in the manifest (templated; usually mapped)
    :param window_start: ISO date or time; ingest from here instead of the run's interval start (templated)
    :param window_end: ISO date or time; ingest up to here, exclusive, instead of the run's interval end
        (templated)
    """

    template_fields: Sequence[str] = ("manifest", "source", "window_start", "window_end")
    ui_color = "#e8f4ff"

    def __init__(
        self, *, manifest: str, source: str, window_start: str | None = None, window_end: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.source = source
        self.window_start = window_start
        self.window_end = window_end

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.manifest import load_manifest
        from datacentric.sources import Window
        from datacentric.sources.ingest import ingest_source
        from datacentric.times import parse_instant

        info = run_info(context)
        start = parse_instant(self.window_start, "window_start") or info.interval_start
        end = parse_instant(self.window_end, "window_end") or info.interval_end
        window = Window.for_interval(start, end)
        hook = DataRepositoryHook()
        loaded = load_manifest(self.manifest)
        spec = loaded.spec.sources.get(self.source)
        clients = hook.source_clients(spec) if spec is not None else {}
        self.log.info("source %s: window %s", self.source, window.as_dict())
        result = ingest_source(
            loaded,
            self.source,
            hook.get_repository(),
            landing_root=hook.settings.landing_root,
            run_id=info.run_id,
            clients=clients,
            window=window,
            last_snapshot=hook.last_snapshot(),
        )
        self.log.info(
            "source %s: %d unit(s) ingested, %d skipped; rows in %d = published %d + quarantined %d",
            self.source, result.units_ingested, result.units_skipped, result.rows_in, result.rows_published,
            result.rows_quarantined,
        )
        for change in result.schema_changes:
            self.log.warning("source %s: schema changed: %s", self.source, change)
        return result.as_dict()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import stage_lineage

        return stage_lineage(task_instance, stage="ingest", source=self.source)
