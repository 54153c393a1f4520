"""Ingests one source of the manifest into the raw zone of the data repository."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.hooks.repository import DataRepositoryHook


class IngestSourceOperator(BaseOperator):
    """Ingest the new units (files, objects, table snapshot) of one source.

    Rows that cannot be parsed or typed are quarantined with a reason; the returned counts reconcile:
    rows_in = rows_published + rows_quarantined.

    :param manifest: path of the manifest YAML (templated)
    :param source: name of the source in the manifest (templated; usually mapped)
    """

    template_fields: Sequence[str] = ("manifest", "source")
    ui_color = "#e8f4ff"

    def __init__(self, *, manifest: str, source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.source = source

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.ingest import ingest_source
        from datacentric.manifest import load_manifest

        hook = DataRepositoryHook()
        loaded = load_manifest(self.manifest)
        spec = loaded.spec.sources.get(self.source)
        clients = hook.source_clients(spec) if spec is not None else {}
        result = ingest_source(
            loaded,
            self.source,
            hook.get_repository(),
            landing_root=hook.settings.landing_root,
            run_id=run_info(context).run_id,
            clients=clients,
        )
        self.log.info(
            "source %s: %d unit(s) ingested, %d skipped; rows in %d = published %d + quarantined %d",
            self.source, result.units_ingested, result.units_skipped, result.rows_in, result.rows_published,
            result.rows_quarantined,
        )
        return result.as_dict()
