"""The "Data Docs" link of a validation task: the run's Great Expectations Data Docs page, served
by the datacentric plugin on the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

# Where the datacentric plugin's web app serves the Data Docs folder on the Airflow API server.
DATA_DOCS_URL_PREFIX = "/datacentric/data-docs"
XCOM_DATA_DOCS = "data_docs"  # absolute path of the Data Docs page of this run (or the index)


def data_docs_url(path: str | None, *, gx_root: Path | str, base_url: str = "") -> str:
    """The address of a Data Docs file as the plugin serves it: `<base_url>/datacentric/data-docs/...`.

    Empty when there is no file or it lies outside the Data Docs folder of `gx_root`. Without a
    `base_url` the address is relative to the Airflow UI's own origin, which is where the UI opens it.
    """
    if not path:
        return ""
    from datacentric.validation.suite import docs_root

    root = docs_root(gx_root).resolve()
    try:
        relative = Path(path).resolve().relative_to(root)
    except ValueError:
        return ""
    return f"{base_url.rstrip('/')}{DATA_DOCS_URL_PREFIX}/{quote(relative.as_posix())}"


class DataDocsLink(BaseOperatorLink):
    """Links a validation task to the Data Docs page of its run, served by the datacentric plugin."""

    name = "Data Docs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk import conf
        from airflow.sdk.execution_time.xcom import XCom
        from datacentric.settings import Settings

        path = XCom.get_value(ti_key=ti_key, key=XCOM_DATA_DOCS)
        base_url = conf.get("api", "base_url", fallback="") or ""
        return data_docs_url(path, gx_root=Settings.from_env().gx_root, base_url=base_url)
