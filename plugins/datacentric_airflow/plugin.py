"""The datacentric Airflow plugin: the "Data Docs" and "Label quality report" links and the web apps
on the API server they point to. Design note: docs/explanation/airflow-layer.md."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from datacentric_airflow.links.labeling import REPORTS_URL_PREFIX, LabelQualityReportLink
from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX, DataDocsLink


def _folder_app(title: str, folder_of: Callable[[], Path], index: str = "index.html") -> Any:
    """A FastAPI app serving the files of a folder to signed-in users; 404 outside the folder."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/{path:path}", dependencies=[Depends(get_user)])
    def folder_file(path: str) -> FileResponse:
        """A file of the folder (`index.html` for a sub-folder)."""
        folder = folder_of().resolve()
        target = (folder / path).resolve()
        if target.is_dir():
            target = target / index
        if not target.is_relative_to(folder) or not target.is_file():
            raise HTTPException(status_code=404, detail=f"no {title} page {path!r}")
        return FileResponse(target)

    return app


@functools.cache
def data_docs_app() -> Any:
    """The FastAPI app that serves the Data Docs folder; every request needs a signed-in user."""
    from datacentric.settings import Settings
    from datacentric.validation.suite import docs_root

    return _folder_app("Great Expectations Data Docs", lambda: docs_root(Settings.from_env().gx_root))


@functools.cache
def reports_app() -> Any:
    """The FastAPI app that serves the repository's reports zone; every request needs a signed-in user."""
    from datacentric.settings import Settings

    return _folder_app("Reports", lambda: Settings.from_env().repository / "reports")


class DatacentricPlugin(AirflowPlugin):
    """Registers the Data Docs and label-quality links and the apps that serve their pages."""

    name = "datacentric"
    operator_extra_links = [DataDocsLink(), LabelQualityReportLink()]
    external_views = [
        {
            "name": "Data Docs",
            "href": f"{DATA_DOCS_URL_PREFIX}/index.html",
            "destination": "nav",
            "category": "browse",
        }
    ]

    # AirflowPlugin declares a plain class attribute; a property builds the apps only when read.
    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [
            {"app": data_docs_app(), "url_prefix": DATA_DOCS_URL_PREFIX, "name": "Data Docs"},
            {"app": reports_app(), "url_prefix": REPORTS_URL_PREFIX, "name": "Reports"},
        ]
