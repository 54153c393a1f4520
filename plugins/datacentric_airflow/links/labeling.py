"""The "Label quality report" link of a label-quality task: the round's HTML report, served from the
repository's reports zone by the datacentric plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from airflow.sdk import BaseOperator, BaseOperatorLink

# Where the datacentric plugin's web app serves the repository's reports zone on the API server.
REPORTS_URL_PREFIX = "/datacentric/reports"


def report_url(uri: str | None, *, reports_root: str, base_url: str = "") -> str:
    """The address of a report file (a file:// URI or a path) as the plugin serves it:
    `<base_url>/datacentric/reports/...`; empty when it lies outside the reports zone.

    The Airflow UI shows only http(s) links or links on its own origin, never file:// ones."""

    if not uri:
        return ""
    path = Path(unquote(urlparse(uri).path) if uri.startswith("file://") else uri).resolve()
    try:
        relative = path.relative_to(Path(reports_root).resolve())
    except ValueError:
        return ""
    return f"{base_url.rstrip('/')}{REPORTS_URL_PREFIX}/{quote(relative.as_posix())}"


class LabelQualityReportLink(BaseOperatorLink):
    """The "Label quality report" button of a LabelQualityOperator task: the round's HTML report,
    served from the repository's reports zone by the datacentric plugin."""

    name = "Label quality report"
    key = "label_quality_report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        from airflow.sdk import conf
        from airflow.sdk.execution_time.xcom import XCom
        from datacentric.settings import Settings

        uri = XCom.get_value(key=self.key, ti_key=ti_key)
        base_url = conf.get("api", "base_url", fallback="") or ""
        return report_url(uri, reports_root=str(Settings.from_env().repository / "reports"), base_url=base_url)
