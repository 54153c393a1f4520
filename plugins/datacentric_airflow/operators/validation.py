"""The validation gate: Great Expectations suites generated from the manifest, row-level quarantine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from datacentric_airflow.context import run_info
from datacentric_airflow.hooks.repository import DataRepositoryHook


class DataDocsLink(BaseOperatorLink):
    """Links a validation task to the Data Docs page built by its run."""

    name = "Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value = XCom.get_value(ti_key=ti_key, key="data_docs")
        return f"file://{value}" if value else ""


class ValidateSourceOperator(BaseOperator):
    """Validate the raw rows of one source; publish passing rows and quarantine the rest.

    Fails (stopping everything downstream) when the source breaks its gate: more rows quarantined
    than the manifest's max_quarantine_fraction, or a table-level expectation failed. The result
    summary (counts, failed expectations, Data Docs path) is returned to XCom.

    :param manifest: path of the manifest YAML (templated)
    :param source: name of the source in the manifest (templated; usually mapped)
    """

    template_fields: Sequence[str] = ("manifest", "source")
    operator_extra_links = (DataDocsLink(),)
    ui_color = "#eafbe7"

    def __init__(self, *, manifest: str, source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.source = source

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.gate import validate_stage
        from datacentric.manifest import load_manifest

        hook = DataRepositoryHook()
        loaded = load_manifest(self.manifest)
        outcome = validate_stage(loaded, self.source, hook.get_repository(), gx_root=hook.settings.gx_root,
                                 run_id=run_info(context).run_id)
        if outcome.get("data_docs"):
            context["ti"].xcom_push(key="data_docs", value=outcome["data_docs"])
            self.log.info("Data Docs: file://%s", outcome["data_docs"])
        self.log.info(
            "source %s: rows in %d = validated %d + quarantined %d",
            self.source, outcome["rows_in"], outcome["rows_valid"], outcome["rows_quarantined"],
        )
        if not outcome["success"]:
            from datacentric.errors import ValidationGateError

            raise ValidationGateError(outcome["message"])
        return outcome


class RelationshipCheckOperator(BaseOperator):
    """Count orphan keys for each relationship of the manifest (e.g. reviews without a product).

    :param manifest: path of the manifest YAML (templated)
    """

    template_fields: Sequence[str] = ("manifest",)

    def __init__(self, *, manifest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from datacentric.gate import check_relationships
        from datacentric.manifest import load_manifest

        report = check_relationships(load_manifest(self.manifest), DataRepositoryHook().get_repository())
        for row in report:
            self.log.info("%s -> %s: %d orphan key(s) of %d", row["from"], row["to"], row["orphans"], row["keys"])
        return report
