"""The validation gate: Great Expectations suites generated from the manifest, row-level quarantine,
schema drift, and the relationships check across sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.hooks.repository import DataRepositoryHook
from datacentric_airflow.links.validation import XCOM_DATA_DOCS, DataDocsLink

if TYPE_CHECKING:
    from airflow.sdk import Context

XCOM_SUMMARY = "validation_summary"  # the summary, pushed even when the gate fails


class ValidateSourceOperator(BaseOperator):
    """Validate the raw rows of one source; publish passing rows and quarantine the rest.

    Fails, without retrying (the same data fails the same way), when the source breaks its gate:
    more rows quarantined than the manifest's max_quarantine_fraction, a duplicated key, a failed
    table-level or `mostly` expectation, or schema drift under the `fail` policy. The exception's
    message says which expectations failed, on how many rows, with sample values. The summary
    (counts, failed expectations, drift, lineage, Data Docs path) goes to XCom under
    `validation_summary` in every case, and is the return value when the gate passes. The task's
    "Data Docs" link opens this run's Data Docs page.

    :param manifest: path of the manifest YAML (templated)
    :param source: name of the source in the manifest (templated; usually mapped)
    :param build_docs: render Data Docs for the run
    """

    template_fields: Sequence[str] = ("manifest", "source")
    operator_extra_links = (DataDocsLink(),)
    ui_color = "#eafbe7"

    def __init__(self, *, manifest: str, source: str, build_docs: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.source = source
        self.build_docs = build_docs

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.manifest import load_manifest
        from datacentric.validation.gate import validate_stage

        hook = DataRepositoryHook()
        loaded = load_manifest(self.manifest)
        outcome = validate_stage(loaded, self.source, hook.get_repository(), gx_root=hook.settings.gx_root,
                                 run_id=run_info(context).run_id, build_docs=self.build_docs)
        ti = context["ti"]
        docs = outcome.get("data_docs_page") or outcome.get("data_docs")
        if docs:
            ti.xcom_push(key=XCOM_DATA_DOCS, value=docs)
            self.log.info("Data Docs of this run: %s (the task's 'Data Docs' link)", docs)
        ti.xcom_push(key=XCOM_SUMMARY, value=outcome)
        self.log.info(
            "source %s: rows in %d = validated %d + quarantined %d",
            self.source, outcome["rows_in"], outcome["rows_valid"], outcome["rows_quarantined"],
        )
        if not outcome["success"]:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(outcome["message"])
        for line in outcome.get("warnings", []):
            self.log.warning("%s", line)
        self.log.info("%s", outcome["message"])
        return outcome

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import stage_lineage

        return stage_lineage(task_instance, stage="validate", source=self.source)


class RelationshipCheckOperator(BaseOperator):
    """Count orphan keys for each relationship of the manifest (e.g. reviews without a product).

    Fails, without retrying, when a relationship with `max_orphan_fraction` has more orphaned rows;
    the report (one entry per relationship) is returned to XCom and published to the reports zone.

    :param manifest: path of the manifest YAML (templated)
    """

    template_fields: Sequence[str] = ("manifest",)

    def __init__(self, *, manifest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> list[dict[str, Any]]:
        from datacentric.manifest import load_manifest
        from datacentric.validation.gate import check_relationships, relationship_failures

        report = check_relationships(load_manifest(self.manifest), DataRepositoryHook().get_repository(),
                                     run_id=run_info(context).run_id)
        for row in report:
            self.log.info("%s -> %s: %d orphan row(s) of %d, %d orphan key(s) of %d, e.g. %s", row["from"], row["to"],
                          row["orphan_rows"], row["rows"], row["orphans"], row["keys"], row["sample"][:3])
        failures = relationship_failures(report)
        if failures:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException("relationship check failed:\n  - " + "\n  - ".join(failures))
        return report

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs of this task (see datacentric_airflow.lineage)."""
        from datacentric_airflow.lineage import relationships_lineage

        return relationships_lineage(task_instance, self.manifest)
