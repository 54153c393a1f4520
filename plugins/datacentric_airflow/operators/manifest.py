"""Reads the manifest at the start of a run: fails early, with line and field, on a bad manifest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from datacentric_airflow.failures import fail_fast_on_bad_input

if TYPE_CHECKING:
    from airflow.sdk import Context


class ManifestSourcesOperator(BaseOperator):
    """Validate the manifest and return its source names, for mapping the per-source tasks over.

    :param manifest: path of the manifest YAML (templated)
    """

    template_fields: Sequence[str] = ("manifest",)
    # The first task of a run: it records the repository's identity, which every later task checks.
    records_repository_identity = True

    def __init__(self, *, manifest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> list[str]:
        from datacentric.manifest import load_manifest

        from datacentric_airflow.hooks.repository import DataRepositoryHook

        loaded = load_manifest(self.manifest)
        self.log.info("manifest %s (sha256 %s): sources %s", loaded.path, loaded.sha256[:12], list(loaded.spec.sources))
        identity = DataRepositoryHook().record_repository_identity(context)
        self.log.info("repository %s, identity %s", DataRepositoryHook().settings.repository, identity)
        return list(loaded.spec.sources)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import manifest_lineage

        return manifest_lineage(self.manifest)
