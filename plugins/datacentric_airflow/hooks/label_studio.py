"""Label Studio hook: a REST client for a Label Studio server from an Airflow connection.

The connection (default `label_studio_default`, type http) holds the server in `host` (a full URL,
or a host name with `schema` and `port`) and the API token in `password`, for example
`AIRFLOW_CONN_LABEL_STUDIO_DEFAULT='{"conn_type": "http", "host": "http://127.0.0.1:8081",
"password": "<token>"}'`. The token is never logged.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class LabelStudioHook(BaseHook):
    """Interact with a Label Studio server.

    :param label_studio_conn_id: the Airflow connection holding the URL and the API token
    """

    conn_name_attr = "label_studio_conn_id"
    default_conn_name = "label_studio_default"
    conn_type = "http"
    hook_name = "Label Studio"

    def __init__(self, label_studio_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label_studio_conn_id = label_studio_conn_id

    def get_conn(self) -> Any:
        """A LabelStudioClient for the connection's server and token."""
        from datacentric.labeling.backends.label_studio import LabelStudioClient

        conn = self.get_connection(self.label_studio_conn_id)
        if not conn.password:
            raise ValueError(f"connection {self.label_studio_conn_id!r}: put the Label Studio API token in its "
                             "password")
        return LabelStudioClient(server_url(conn.host, conn.schema, conn.port), conn.password)

    def get_labeling_backend(self, task: Any, config: Any) -> Any:
        """The Label Studio labeling backend of a label task, talking through this connection."""
        from datacentric.labeling.backends.label_studio import LabelStudioBackend

        return LabelStudioBackend(task, config, client=self.get_conn())

    def project_progress(self, title: str) -> dict[str, Any] | None:
        """Tasks and finished tasks of the project titled `title`, or None when there is none."""
        client = self.get_conn()
        found = client.find_project(title)
        if found is None:
            return None
        project = client.project(found["id"])
        return {"id": project["id"], "task_number": int(project.get("task_number") or 0),
                "finished_task_number": int(project.get("finished_task_number") or 0),
                "url": client.project_url(project["id"])}


def server_url(host: str | None, schema: str | None, port: int | None) -> str:
    if not host:
        raise ValueError("the Label Studio connection has no host")
    if "://" in host:
        return host.rstrip("/")
    return f"{schema or 'http'}://{host}" + (f":{port}" if port else "")
