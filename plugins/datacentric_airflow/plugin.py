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


def _folder_app(title: str, folder_of: Callable[[], Path], index: str = "index.html",
                page: Callable[[Path, Path], Any] | None = None,
                fallback: Callable[[str], Path | None] | None = None) -> Any:
    """A FastAPI app serving the files of a folder to signed-in users; 404 outside the folder.

    `page(folder, file)`, when given, answers for each HTML file instead of the file as it is;
    `fallback(path)` names a file to serve for a path the folder does not have."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, Response

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/{path:path}", dependencies=[Depends(get_user)])
    def folder_file(path: str) -> Response:
        """A file of the folder (`index.html` for a sub-folder)."""
        folder = folder_of().resolve()
        target = (folder / path).resolve()
        if target.is_dir():
            target = target / index
        if not target.is_relative_to(folder):
            raise HTTPException(status_code=404, detail=f"no {title} page {path!r}")
        if not target.is_file():
            shipped = fallback(path) if fallback is not None else None
            if shipped is None:
                raise HTTPException(status_code=404, detail=f"no {title} page {path!r}")
            return FileResponse(shipped)
        if page is not None and target.suffix == ".html":
            return page(folder, target)
        return FileResponse(target)

    return app


def _data_docs_page(folder: Path, target: Path) -> Any:
    """A Data Docs page as a person should see it: its scripts and styles from the site (also for pages
    built before the site had them), and on a validation run's page the gate's verdict beside GX's."""
    from datacentric.validation.data_docs import localize, to_root, with_gate_banner
    from fastapi.responses import HTMLResponse

    text = localize(target.read_text(encoding="utf-8"), to_root(target, folder))
    summary = _gate_summary(target.relative_to(folder).as_posix())
    if summary is not None:
        text = with_gate_banner(text, summary)
    return HTMLResponse(text)


def _gate_summary(relative: str) -> dict[str, Any] | None:
    """The validation summary (the gate's verdict) a validate task pushed for the Data Docs run page
    `relative` (validations/<suite>/<run id>/<time>/<file>.html), or None.

    GX names the run folder by the run id the operators pass (the DAG run's id), so only that run's
    summaries are read; the one whose page is this one answers."""
    parts = relative.split("/")
    if len(parts) < 5 or parts[0] != "validations":
        return None
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from datacentric_airflow.operators.validation import XCOM_SUMMARY

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.key == XCOM_SUMMARY,
                                                       XComModel.run_id == parts[-3])).all()
        values = [XComModel.deserialize_value(row) for row in rows]
    for value in values:
        if isinstance(value, dict) and str(value.get("data_docs_page") or "").endswith("/" + relative):
            return value
    return None


def _shipped_asset(path: str) -> Path | None:
    """A Data Docs asset the site lacks (a site built before they were copied into it)."""
    from datacentric.validation.data_docs import ASSETS, asset_file

    return asset_file(path[len(ASSETS) + 1:]) if path.startswith(ASSETS + "/") else None


@functools.cache
def data_docs_app() -> Any:
    """The FastAPI app that serves the Data Docs folder; every request needs a signed-in user."""
    from datacentric.settings import Settings
    from datacentric.validation.suite import docs_root

    return _folder_app("Great Expectations Data Docs", lambda: docs_root(Settings.from_env().gx_root),
                       page=_data_docs_page, fallback=_shipped_asset)


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
