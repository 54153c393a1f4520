"""DataDocsLink: the "Data Docs" button of a validation task, the URL of its page under the plugin's
Data Docs app, read from XCom."""

from __future__ import annotations

from pathlib import Path

import pytest
from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX, XCOM_DATA_DOCS, DataDocsLink, data_docs_url


class TestDataDocsLink:
    def test_url_of_a_page_under_the_data_docs_folder(self, tmp_path: Path) -> None:
        page = tmp_path / "gx" / "gx/uncommitted/data_docs/local_site/validations/orders/run/x.html"
        assert data_docs_url(str(page), gx_root=tmp_path / "gx") == \
            f"{DATA_DOCS_URL_PREFIX}/validations/orders/run/x.html"
        assert data_docs_url(str(page), gx_root=tmp_path / "gx", base_url="https://airflow.example.com/") == \
            f"https://airflow.example.com{DATA_DOCS_URL_PREFIX}/validations/orders/run/x.html"
        assert data_docs_url(str(tmp_path / "elsewhere.html"), gx_root=tmp_path / "gx") == ""
        odd = page.parent / "manual__2026-11-01T00:00:00+00:00" / "a b.html"
        assert data_docs_url(str(odd), gx_root=tmp_path / "gx") == \
            f"{DATA_DOCS_URL_PREFIX}/validations/orders/run/manual__2026-11-01T00%3A00%3A00%2B00%3A00/a%20b.html"
        assert data_docs_url(None, gx_root=tmp_path / "gx") == ""

    def test_get_link_reads_the_page_from_xcom(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from airflow.sdk.execution_time.xcom import XCom

        monkeypatch.setenv("DATACENTRIC_GX_ROOT", str(tmp_path))
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://localhost:8080")
        page = tmp_path / "gx/uncommitted/data_docs/local_site/index.html"
        asked = []

        def get_value(*, ti_key, key):
            asked.append((ti_key, key))
            return str(page)

        monkeypatch.setattr(XCom, "get_value", get_value)
        link = DataDocsLink().get_link(None, ti_key="ti-key")
        assert link == f"http://localhost:8080{DATA_DOCS_URL_PREFIX}/index.html"
        assert asked == [("ti-key", XCOM_DATA_DOCS)]
        assert DataDocsLink().xcom_key == "_link_DataDocsLink"
