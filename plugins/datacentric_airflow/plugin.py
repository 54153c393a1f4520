"""The datacentric Airflow plugin: the "Data Docs" and "Label quality report" links and the web apps
on the API server they point to, and the lock handling of the embedded metadata database (SQLite).
Design note: docs/explanation/airflow-layer.md."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from datacentric_airflow.links.labeling import REPORTS_URL_PREFIX, LabelQualityReportLink
from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX, DataDocsLink

# -- the embedded metadata database -------------------------------------------------------------
#
# The Makefile sets `[database] sql_alchemy_connect_args` (and its `_async` twin) to
# METADATA_DB_CONNECT_ARGS, so every Airflow process that opens the metadata database imports this
# module first (docs/how-to/production.md#the-embedded-default).

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for SQLite's lock (sqlite3's default: 5)


def _metadata_db_connect_args() -> dict[str, Any]:
    """sqlite3's busy timeout when the metadata database is SQLite; nothing for any other database."""
    from airflow.configuration import conf

    return {"timeout": SQLITE_BUSY_TIMEOUT} if conf.get("database", "sql_alchemy_conn").startswith("sqlite") else {}


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_takes_the_write_lock(conn: Connection, name: str | None) -> None:
    """A SAVEPOINT outside a transaction starts SQLite's transaction as BEGIN IMMEDIATE.

    Python's sqlite3 begins a transaction only before its first INSERT, UPDATE or DELETE, which then
    waits for the write lock up to the busy timeout. A SAVEPOINT (SQLAlchemy's `begin_nested`, which
    `airflow backfill create` and asset events use) begins a *deferred* transaction instead: it reads a
    snapshot first, and when another process commits before its first write, SQLite refuses that write
    at once with "database is locked", however long the busy timeout. Taking the write lock at the
    start makes such a transaction wait its turn like any other. Only sqlite3 connections outside a
    transaction are touched.
    """
    raw = conn.connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection) and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


METADATA_DB_CONNECT_ARGS = _metadata_db_connect_args()


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
