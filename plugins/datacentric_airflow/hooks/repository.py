"""The data repository hook: builds the repository, its versioner and source clients.

Paths come from deployment settings (environment variables); credentials for sources come from
Airflow connections named in the manifest (`conn_id`), never from the manifest itself.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class DataRepositoryHook(BaseHook):
    conn_name_attr = "datacentric_conn_id"
    hook_name = "Datacentric data repository"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from datacentric.settings import Settings

        self.settings = Settings.from_env()

    def get_conn(self) -> Any:
        return self.get_repository()

    def get_repository(self) -> Any:
        from datacentric.repository import DataRepository

        return DataRepository(self.settings.repository).init()

    def get_versioner(self) -> Any:
        from datacentric.versioning import Versioner

        return Versioner(self.settings.repository, remote=self.settings.dvc_remote)

    def source_clients(self, spec: Any) -> dict[str, Any]:
        """Clients a source reader needs, built from the Airflow connection its manifest entry names."""
        if spec.type == "s3":
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            return {"s3": S3Hook(aws_conn_id=spec.location.conn_id).get_conn()}
        if spec.type == "sql" and spec.location.conn_id:
            conn = self.get_connection(spec.location.conn_id)
            return {"sql_url": conn.get_uri()}
        return {}
