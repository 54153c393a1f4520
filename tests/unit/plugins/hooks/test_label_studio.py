"""LabelStudioHook: the server URL and API token from an Airflow connection. The whole round against a
real server is in tests/integration/test_label_studio.py."""

from __future__ import annotations

import json

import pytest
from datacentric_airflow.hooks.label_studio import LabelStudioHook, server_url


class TestLabelStudioHook:
    @pytest.mark.parametrize(("host", "schema", "port", "url"), [
        ("http://127.0.0.1:8081/", None, None, "http://127.0.0.1:8081"),
        ("labels.internal", "https", 443, "https://labels.internal:443"),
        ("labels.internal", None, None, "http://labels.internal"),
    ])
    def test_server_url(self, host: str, schema: str | None, port: int | None, url: str) -> None:
        assert server_url(host, schema, port) == url

    def test_connection_without_token_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LS_NO_TOKEN", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1"}))
        with pytest.raises(ValueError, match="'ls_no_token': put the Label Studio API token in its password"):
            LabelStudioHook("ls_no_token").get_conn()

    def test_client_from_connection(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LS_TEST", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": 18999, "password": "tok-123"}))
        client = LabelStudioHook("ls_test").get_conn()
        assert client.url == "http://127.0.0.1:18999" and client.session.headers["Authorization"] == "Token tok-123"
