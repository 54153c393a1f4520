"""The Feast hook: where the feature repository and the online store are.

The online store is SQLite unless configured otherwise, in this order:

1. an Airflow connection, named by the operator's `online_store_conn_id` or by the environment
   variable DATACENTRIC_ONLINE_STORE_CONN_ID: a Redis connection (host, port, login, password;
   extra `db` and `ssl`), the same fields Airflow's Redis provider reads;
2. DATACENTRIC_ONLINE_STORE: "sqlite" or "redis://host:port/db" (datacentric.settings).

A connection's password never reaches feature_store.yaml: the file references the environment
variable DATACENTRIC_ONLINE_STORE_PASSWORD, which `prepare_environment` sets in the task's process
before Feast reads the file (Feast expands ${VARS} in it). Run the `feast` command line with that
variable set to use the same repository by hand.

(The module is not called feast.py: Airflow imports every file of the plugins folder under its bare
file name, and a module named `feast` would shadow the Feast package.)
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseHook

CONN_ID_VARIABLE = "DATACENTRIC_ONLINE_STORE_CONN_ID"
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
        self.online_store_conn_id = online_store_conn_id or os.environ.get(CONN_ID_VARIABLE) or None

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
