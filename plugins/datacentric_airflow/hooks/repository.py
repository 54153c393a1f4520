"""The data repository hook: builds the repository, its versioner and source clients.

Paths come from deployment settings (environment variables); credentials for sources come from
Airflow connections named in the manifest (`conn_id`), never from the manifest itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Context


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
        """The deployment's repository, checked first against the identity the running DAG run recorded
        (see `record_repository_identity`): a worker that sees none or another one fails at once."""
        from datacentric.repository.store import DataRepository

        self.check_repository()
        return DataRepository(self.settings.repository).init()

    def get_feature_repo(self) -> Any:
        """The Feast repository folder, beside the repository on the same shared storage (checked as such)."""
        self.check_repository()
        return self.settings.feature_repo

    def check_repository(self) -> None:
        from datacentric.repository.identity import check_repository_identity, check_shared_storage

        check_shared_storage(self.settings.shared_dir)
        expected = run_repository_identity()
        if expected is not None:
            check_repository_identity(self.settings.repository, expected)

    def record_repository_identity(self, context: Context) -> str:
        """Push the repository's identity to XCom, for every later task of the run to check."""
        from datacentric.repository.identity import repository_identity

        identity = repository_identity(self.get_repository().root)
        context["ti"].xcom_push(key=REPOSITORY_ID_KEY, value=identity)
        return identity

    def get_versioner(self, remote_conn_id: str | None = None) -> Any:
        """The deployment's versioner; an S3 DVC remote's endpoint and credentials come from the
        Airflow AWS connection `remote_conn_id` when given, else from the environment."""
        from datacentric.versioning import Versioner


        return Versioner.from_settings(self.settings, remote_config=dvc_remote_config(remote_conn_id))

    def last_snapshot(self) -> str | None:
        """The id of the newest data state of the repository, or None before the first snapshot."""
        from datacentric.errors import RepositoryError

        try:
            states = self.get_versioner().states()
        except (RepositoryError, OSError):
            return None
        return states[-1]["data_state_id"] if states else None

    def source_clients(self, spec: Any) -> dict[str, Any]:
        """Clients a source reader needs, built from the Airflow connection its manifest entry names."""
        if spec.type == "s3":
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            return {"s3": S3Hook(aws_conn_id=spec.location.conn_id).get_conn()}
        if spec.type == "sql" and spec.location.conn_id:
            return {"sql_url": sqlalchemy_url(self.get_connection(spec.location.conn_id))}
        if spec.type == "http" and spec.location.conn_id:
            return {"http": http_client_settings(self.get_connection(spec.location.conn_id))}
        return {}


REPOSITORY_ID_KEY = "repository_id"


def run_repository_identity() -> str | None:
    """The repository identity recorded by an upstream task of the running task (None outside a task, or
    when no upstream task records one)."""
    from airflow.sdk import get_current_context

    try:
        context = get_current_context()
    except Exception:  # noqa: BLE001 - outside a running task there is nothing to check against
        return None
    task = context["task"]
    recorders = sorted(t.task_id for t in task.get_flat_relatives(upstream=True)
                       if getattr(t, "records_repository_identity", False))
    if not recorders:
        return None
    return context["ti"].xcom_pull(task_ids=recorders[0], key=REPOSITORY_ID_KEY)


# Airflow connection types -> SQLAlchemy drivers installed with the project (psycopg2 for PostgreSQL).
_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql",
            "mssql": "mssql+pymssql"}


def sqlalchemy_url(conn: Any) -> str:
    """A SQLAlchemy URL from an Airflow connection; `extra.sqlalchemy_url` overrides the mapping."""
    import sqlalchemy as sa

    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    driver = _DRIVERS.get(conn.conn_type)
    if driver is None:
        raise ValueError(
            f"connection {conn.conn_id!r}: type {conn.conn_type!r} has no SQLAlchemy driver mapping; "
            "set extra.sqlalchemy_url"
        )
    url = sa.URL.create(driver, username=conn.login or None, password=conn.password or None,
                        host=conn.host or None, port=conn.port or None, database=conn.schema or None)
    return url.render_as_string(hide_password=False)


def http_client_settings(conn: Any) -> dict[str, Any]:
    """Base URL, headers and auth for an HTTP source from an Airflow connection.

    The host (with `schema` as the scheme, default https, and the port) is the base URL; a login with
    a password is basic auth, a password alone is a bearer token; `extra.headers` adds headers (e.g. an
    API key header). None of it is ever written to the manifest, the change log or XCom.
    """
    extra = conn.extra_dejson or {}
    headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
    auth = None
    if conn.login and conn.password:
        auth = (conn.login, conn.password)
    elif conn.password:
        headers.setdefault("Authorization", f"Bearer {conn.password}")
    base_url = None
    if conn.host:
        host = conn.host.rstrip("/")
        if "://" not in host:
            port = f":{conn.port}" if conn.port else ""
            host = f"{conn.schema or 'https'}://{host}{port}"
        base_url = host
    return {"base_url": base_url, "headers": headers, "auth": auth}


def dvc_remote_config(aws_conn_id: str | None) -> dict[str, str] | None:
    """Endpoint, region and credentials of an S3 DVC remote from an Airflow AWS connection.

    They are written to the data repository's DVC local config (.dvc/config.local, never committed)
    and are never logged or returned to XCom. None: use the environment (DATACENTRIC_DVC_REMOTE_ENDPOINT,
    AWS_* variables)."""
    if not aws_conn_id:
        return None
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3")
    credentials = hook.get_credentials()
    config = {"access_key_id": credentials.access_key, "secret_access_key": credentials.secret_key}
    if credentials.token:
        config["session_token"] = credentials.token
    if hook.conn_config.endpoint_url:
        config["endpointurl"] = hook.conn_config.endpoint_url
    if hook.conn_region_name:
        config["region"] = hook.conn_region_name
    return config
