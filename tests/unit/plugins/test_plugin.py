"""The plugin registers the extra links and the web apps that serve Data Docs and label-quality reports;
the apps are tested inside Airflow's own API server app, signed in with a token from Airflow's auth
manager."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX


def test_the_plugin_registers_the_link_and_the_data_docs_app() -> None:
    from airflow import plugins_manager

    plugins = {p.name: p for p in plugins_manager._get_plugins()[0]}
    assert "datacentric" in plugins, plugins_manager._get_plugins()[1]
    links = [type(link).__name__ for link in plugins_manager.get_operator_extra_links()]
    assert links == ["DataDocsLink", "LabelQualityReportLink"]
    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [(a["url_prefix"], a["name"]) for a in apps] == [
        (DATA_DOCS_URL_PREFIX, "Data Docs"), ("/datacentric/reports", "Reports")]
    assert plugins["datacentric"].external_views[0]["href"] == f"{DATA_DOCS_URL_PREFIX}/index.html"


@pytest.fixture(scope="module")
def api_server(airflow_db: None) -> SimpleNamespace:
    """Airflow's API server app with the plugin's apps mounted, as a test client, and the cookie a
    browser sends once signed in to the UI. The apps read their folders from the environment at each
    request, so one app serves every test of the module."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    return SimpleNamespace(client=client, signed_in={"cookies": {"_token": token}})


def test_the_api_server_serves_data_docs_to_signed_in_users_only(
    api_server: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATACENTRIC_GX_ROOT", str(tmp_path))
    site = tmp_path / "gx/uncommitted/data_docs/local_site"
    (site / "validations" / "orders").mkdir(parents=True)
    (site / "index.html").write_text("<h1>index</h1>")
    (site / "validations" / "orders" / "run.html").write_text("<h1>run</h1>")
    (tmp_path / "secret.txt").write_text("not a page")
    client, signed_in = api_server.client, api_server.signed_in

    assert client.get(f"{DATA_DOCS_URL_PREFIX}/index.html").status_code == 401
    page = client.get(f"{DATA_DOCS_URL_PREFIX}/validations/orders/run.html", **signed_in)
    assert (page.status_code, page.text) == (200, "<h1>run</h1>")
    assert page.headers["content-type"].startswith("text/html")
    assert client.get(f"{DATA_DOCS_URL_PREFIX}/", **signed_in).text == "<h1>index</h1>"
    assert client.get(f"{DATA_DOCS_URL_PREFIX}/nope.html", **signed_in).status_code == 404
    escape = f"{DATA_DOCS_URL_PREFIX}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt"
    assert client.get(escape, **signed_in).status_code == 404


def test_the_api_server_serves_label_quality_reports_to_signed_in_users_only(
    api_server: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric_airflow.links.labeling import REPORTS_URL_PREFIX, report_url

    repository = tmp_path / "repository"
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(repository))
    report = repository / "reports" / "labeling" / "sentiment" / "job 1.html"
    report.parent.mkdir(parents=True)
    report.write_text("<h1>quality</h1>")
    (repository / "changelog.jsonl").write_text("{}\n")
    link = report_url(report.as_uri(), reports_root=str(repository / "reports"))
    assert link == f"{REPORTS_URL_PREFIX}/labeling/sentiment/job%201.html"
    assert report_url((repository / "changelog.jsonl").as_uri(), reports_root=str(repository / "reports")) == ""
    client, signed_in = api_server.client, api_server.signed_in

    assert client.get(link).status_code == 401
    page = client.get(link, **signed_in)
    assert (page.status_code, page.text) == (200, "<h1>quality</h1>")
    assert client.get(f"{REPORTS_URL_PREFIX}/%2e%2e/changelog.jsonl", **signed_in).status_code == 404
