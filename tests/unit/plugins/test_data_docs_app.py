"""The plugin's Data Docs app inside Airflow's own API server app: a site Great Expectations built for
real is served with every script, style, font and image it references (and the right content type),
none from the network; pages built before the project shipped its assets are served localized too; a
validation run's page carries the gate's verdict."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urljoin

import pytest
from datacentric.validation.data_docs import ASSETS, CDN_FILES, external_assets
from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX

from tests.unit.datacentric.validation.test_validation import reviews_frame, reviews_source

REFERENCE = re.compile(r"<(?:script|link|img)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)[\"']", re.IGNORECASE)
CSS_URL = re.compile(r"url\(([^)\"']+)\)")
CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png", ".woff2": "font/woff2",
                 ".ttf": "font/ttf", ".ico": "image/"}


@pytest.fixture(scope="module")
def api_server(airflow_db: None) -> SimpleNamespace:
    """Airflow's API server app with the plugin's apps mounted, as a test client, signed in."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    return SimpleNamespace(client=client, signed_in={"cookies": {"_token": token}})


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GX project whose Data Docs hold one validation run (2 of 40 rows quarantined, gate passed)."""
    from datacentric.validation.suite import validate_source

    root = tmp_path_factory.mktemp("gx")
    frame = reviews_frame(40)
    frame.loc[[3, 7], "rating"] = 0
    result = validate_source("reviews", reviews_source(max_quarantine_fraction=0.1), frame, gx_root=root,
                             run_id="manual__2026-10-31")
    assert result.success and result.data_docs_page
    return root


def site_of(root: Path) -> Path:
    from datacentric.validation.suite import docs_root

    return docs_root(root).resolve()


def served(api_server: SimpleNamespace, url: str):
    answer = api_server.client.get(url, **api_server.signed_in)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return answer


def check_assets(api_server: SimpleNamespace, page_url: str, text: str) -> set[str]:
    """GET every script, stylesheet, image and font the page (and its stylesheets) references."""
    fetched = set()
    for reference in REFERENCE.findall(text):
        if reference.startswith("#") or reference.endswith(".html"):
            continue
        url = urljoin(page_url, reference.split("?")[0])
        assert url.startswith(DATA_DOCS_URL_PREFIX + "/"), (page_url, reference)
        answer = served(api_server, url)
        suffix = Path(url).suffix
        assert answer.headers["content-type"].startswith(CONTENT_TYPES[suffix]), (url, answer.headers)
        fetched.add(url)
        if suffix == ".css":
            for font in CSS_URL.findall(answer.text):
                if not font.startswith("data:"):
                    font_url = urljoin(url, font)
                    assert served(api_server, font_url).headers["content-type"].startswith(
                        CONTENT_TYPES[Path(font).suffix]), font_url
                    fetched.add(font_url)
    return fetched


def test_every_page_and_asset_of_a_built_site_is_served_locally(
    api_server: SimpleNamespace, gx_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATACENTRIC_GX_ROOT", str(gx_root))
    site = site_of(gx_root)
    fetched: set[str] = set()
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 3  # the index, the suite and the run
    for page in pages:
        url = f"{DATA_DOCS_URL_PREFIX}/{quote(page.relative_to(site).as_posix())}"
        answer = served(api_server, url)
        assert answer.headers["content-type"].startswith("text/html")
        assert external_assets(answer.text) == [], url
        assert "amazonaws.com" not in answer.text
        fetched |= check_assets(api_server, url, answer.text)
    shipped = {f"{DATA_DOCS_URL_PREFIX}/{ASSETS}/{relative}" for relative in CDN_FILES.values()}
    assert shipped <= fetched
    assert any(url.endswith(".woff2") for url in fetched) and any(url.endswith("logo-long.png") for url in fetched)


def test_a_page_built_before_the_site_had_its_assets_is_served_localized(
    api_server: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATACENTRIC_GX_ROOT", str(tmp_path))
    site = site_of(tmp_path)
    site.mkdir(parents=True)
    tags = "".join(f'<script src="{url}"></script>' if url.endswith("js") or "/npm/vega" in url
                   else f'<link rel="stylesheet" href="{url}"/>' for url in CDN_FILES)
    (site / "index.html").write_text(f"<html><head>{tags}</head><body>old</body></html>")
    answer = served(api_server, f"{DATA_DOCS_URL_PREFIX}/index.html")
    assert external_assets(answer.text) == [] and "old" in answer.text
    assert len(check_assets(api_server, f"{DATA_DOCS_URL_PREFIX}/index.html", answer.text)) > len(CDN_FILES)
    assert not (site / ASSETS).exists()  # served from the shipped files; the site is left as it was
    client, signed_in = api_server.client, api_server.signed_in
    assert client.get(f"{DATA_DOCS_URL_PREFIX}/{ASSETS}/README.md", **signed_in).status_code == 404
    assert client.get(f"{DATA_DOCS_URL_PREFIX}/{ASSETS}/%2e%2e/data_docs.py", **signed_in).status_code == 404
    assert client.get(f"{DATA_DOCS_URL_PREFIX}/{ASSETS}/jquery-3.7.1/jquery.min.js").status_code == 401


def test_a_run_page_shows_the_gate_verdict_the_validate_task_pushed(
    api_server: SimpleNamespace, gx_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from datacentric_airflow import plugin

    monkeypatch.setenv("DATACENTRIC_GX_ROOT", str(gx_root))
    site = site_of(gx_root)
    run_page = next(site.glob("validations/reviews/manual__2026-10-31/*/*.html"))
    relative = run_page.relative_to(site).as_posix()
    asked = []

    def pushed(page: str):  # what the validate task pushed to XCom (validation_summary) for this run
        asked.append(page)
        return None if page != relative else {
            "source": "reviews", "success": True, "rows_in": 40, "rows_valid": 38, "rows_quarantined": 2,
            "quarantine_fraction": 0.05, "max_quarantine_fraction": 0.1, "problems": [], "warnings": [],
            "failed_expectations": [{"id": "rating"}], "data_docs_page": str(run_page)}

    # Airflow's plugin manager loads plugin.py from the plugins folder under a module name of its own
    # (and earlier tests may have loaded it from other paths): patch every copy.
    copies = [m for m in list(sys.modules.values())
              if getattr(getattr(m, "_gate_summary", None), "__qualname__", None) == "_gate_summary"]
    assert plugin in copies
    for module in copies:
        monkeypatch.setattr(module, "_gate_summary", pushed)
    # The app serves with whichever copy the plugin manager loaded first (perhaps one no longer in
    # sys.modules): patch the globals its mounted endpoints read, too.
    for namespace in _endpoint_globals(api_server.client.app):
        if "_gate_summary" in namespace:
            monkeypatch.setitem(namespace, "_gate_summary", pushed)
    text = served(api_server, f"{DATA_DOCS_URL_PREFIX}/{quote(relative)}").text
    assert "Quarantine gate: passed" in text and "2 of 40 rows quarantined (5.00% ≤ limit 10.00%)" in text
    assert "Failed" in text  # GX's own status stays
    index = served(api_server, f"{DATA_DOCS_URL_PREFIX}/index.html").text
    assert "datacentric-gate" not in index
    assert asked == [relative, "index.html"]


def test_the_gate_summary_is_looked_up_only_for_run_pages() -> None:
    from datacentric_airflow.plugin import _gate_summary

    assert _gate_summary("index.html") is None
    assert _gate_summary("expectations/reviews.html") is None


def _endpoint_globals(app, seen=None) -> list[dict]:
    """The module globals of every endpoint of a Starlette/FastAPI app and the apps mounted in it."""
    seen = set() if seen is None else seen
    found = []
    for route in getattr(app, "routes", []):
        endpoint = getattr(route, "endpoint", None)
        namespace = getattr(endpoint, "__globals__", None)
        if namespace is not None and id(namespace) not in seen:
            seen.add(id(namespace))
            found.append(namespace)
        inner = getattr(route, "app", None)
        if inner is not None and inner is not app:
            found += _endpoint_globals(inner, seen)
    return found
