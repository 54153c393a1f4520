"""The datacentric Airflow plugin: the validation task's "Data Docs" link and the web app it points to.

Airflow's UI shows an operator extra link only when it is an http(s) address or one on the UI's own
origin, so a `file://` path to Great Expectations' Data Docs would not show at all. The plugin mounts a
small FastAPI app on the API server, under `/datacentric/data-docs/`, that serves the Data Docs folder
(`$DATACENTRIC_GX_ROOT/gx/uncommitted/data_docs/local_site/`) to signed-in users, and adds a "Data Docs"
entry to the UI's Browse menu. The validation operator's link points at this run's page there.

The API server and the workers must see the same Data Docs folder (one machine, or a shared volume).
FastAPI is imported only when the API server asks for the app, not when the plugin is loaded.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from datacentric_airflow.operators.validation import DATA_DOCS_URL_PREFIX, DataDocsLink


@functools.cache
def data_docs_app() -> Any:
    """The FastAPI app that serves the Data Docs folder; every request needs a signed-in user."""
    from airflow.api_fastapi.core_api.security import get_user
    from datacentric.settings import Settings
    from datacentric.validation import docs_root
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse

    app = FastAPI(title="Great Expectations Data Docs", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/{path:path}", dependencies=[Depends(get_user)])
    def data_docs_file(path: str) -> FileResponse:
        """A file of the Data Docs site (`index.html` for a folder); 404 outside the site."""
        folder = docs_root(Settings.from_env().gx_root).resolve()
        target = (folder / path).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(folder) or not target.is_file():
            raise HTTPException(status_code=404, detail=f"no Data Docs page {path!r}")
        return FileResponse(target)

    return app


class DatacentricPlugin(AirflowPlugin):
    """Registers the Data Docs link of the validation operator and the app that serves the pages."""

    name = "datacentric"
    operator_extra_links = [DataDocsLink()]
    external_views = [
        {
            "name": "Data Docs",
            "href": f"{DATA_DOCS_URL_PREFIX}/index.html",
            "destination": "nav",
            "category": "browse",
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [{"app": data_docs_app(), "url_prefix": DATA_DOCS_URL_PREFIX, "name": "Data Docs"}]
