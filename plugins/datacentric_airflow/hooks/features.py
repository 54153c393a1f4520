"""The Feast hook: where the feature repository and the online store are (SQLite, or Redis from a
connection or DATACENTRIC_ONLINE_STORE), with the password kept out of feature_store.yaml.
Design note: docs/explanation/airflow-layer.md. (Not called feast.py: Airflow imports plugin files
under their bare names, and `feast` would shadow the Feast package.)"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

PASSWORD_VARIABLE = "DATACENTRIC_ONLINE_STORE_PASSWORD"


class FeastHook(BaseHook):
    """Builds the online store setting for the generated Feast repository.

    :param online_store_conn_id: an Airflow connection to a Redis server (default: the environment
        variable DATACENTRIC_ONLINE_STORE_CONN_ID; none: DATACENTRIC_ONLINE_STORE or SQLite)
    """

    conn_name_attr = "online_store_conn_id"
    conn_type = "redis"
    hook_name = "Datacentric Feast online store"

    def __init__(self, online_store_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from datacentric.settings import Settings

        self.settings = Settings.from_env()
        self.online_store_conn_id = online_store_conn_id or self.settings.online_store_conn_id

    def get_conn(self) -> str:
        return self.online_store()

    def online_store(self) -> str:
        """"sqlite" or a redis:// URL whose password, if any, is a ${DATACENTRIC_ONLINE_STORE_PASSWORD} reference."""
        if not self.online_store_conn_id:
            return self.settings.online_store
        conn = self.get_connection(self.online_store_conn_id)
        return redis_url(conn)

    def prepare_environment(self) -> None:
        """Put the connection's password where feature_store.yaml refers to it (this process only)."""
        if not self.online_store_conn_id:
            return
        conn = self.get_connection(self.online_store_conn_id)
        if conn.password:
            os.environ[PASSWORD_VARIABLE] = conn.password


def redis_url(conn: Any) -> str:
    """redis[s]://[user:${PASSWORD_VARIABLE}@]host:port/db from an Airflow Redis connection."""
    if not conn.host:
        raise ValueError(f"connection {conn.conn_id!r}: no host; a Redis connection needs host (and port)")
    extra = conn.extra_dejson or {}
    db = extra.get("db", conn.schema or 0)
    try:
        db = int(db)
    except (TypeError, ValueError):
        raise ValueError(f"connection {conn.conn_id!r}: extra 'db' must be a number, got {db!r}") from None
    ssl = str(extra.get("ssl", False)).lower() in ("1", "true", "yes")
    scheme = "rediss" if ssl else "redis"
    user = quote(conn.login, safe="") if conn.login else ""
    secret = f"${{{PASSWORD_VARIABLE}}}" if conn.password else ""
    auth = f"{user}:{secret}@" if (user or secret) else ""
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    return f"{scheme}://{auth}{host}:{conn.port or 6379}/{db}"
