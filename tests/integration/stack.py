"""The production stack of scripts/stack.sh for a test: its own PostgreSQL database, its own Redis dbs,
free ports and a temporary folder; a REST API v2 client; and a stop that ends whatever it started.

Nothing here skips: a missing PostgreSQL or Redis server fails the test that asked for the stack."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

PROJECT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = PROJECT / "scripts" / "stack.sh"
DAG_ID = "datacentric_pipeline"
# Redis dbs a stack under test may take for its broker and online store (the other tests use db 15).
FREE_DBS = range(1, 15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_server(url: str) -> str:
    """postgresql://user@host:port of a SQLAlchemy URL (driver and database dropped)."""
    parts = urlsplit(url)
    return f"postgresql://{parts.netloc}"


@dataclass
class Stack:
    home: Path
    postgres: str  # server URL, no database
    redis: str  # server URL, no db number
    online_redis: str | None = None  # the online store's server, if not the broker's
    database: str = field(default_factory=lambda: f"datacentric_stack_test_{secrets.token_hex(4)}")
    api_port: int = field(default_factory=free_port)
    token: str | None = None
    broker_db: int = 0
    online_db: int = 0

    def __post_init__(self) -> None:
        self.broker_db, self.online_db = self._empty_dbs()

    def _empty_dbs(self) -> tuple[int, int]:
        """Two empty Redis dbs, picked at random: stacks of concurrent test sessions must not share a broker."""
        import random

        import redis

        candidates = list(FREE_DBS)
        random.shuffle(candidates)
        empty = []
        for db in candidates:
            client = redis.Redis.from_url(f"{self.redis}/{db}")
            try:
                if client.dbsize() == 0:
                    empty.append(db)
            finally:
                client.close()
            if len(empty) == 2:
                return empty[0], empty[1]
        raise AssertionError(f"Redis at {self.redis} has fewer than two empty dbs among {list(FREE_DBS)}")

    # -- processes ---------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        # Only what a user's shell would have: none of the test session's Airflow or project settings.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "DATACENTRIC_", "PYTEST")) and k != "PYTHONPATH"}
        env.update({
            "STACK_HOME": str(self.home),
            "STACK_POSTGRES": self.postgres,
            "STACK_DB": self.database,
            "STACK_REDIS": self.redis,
            "STACK_BROKER_DB": str(self.broker_db),
            "STACK_ONLINE_DB": str(self.online_db),
            "STACK_ONLINE_REDIS": self.online_server,
            "STACK_API_PORT": str(self.api_port),
            "STACK_WORKER_LOG_PORT": str(free_port()),
            "STACK_TRIGGERER_LOG_PORT": str(free_port()),
            "STACK_SCHEDULER_HEALTH_PORT": str(free_port()),
            # Only the runs the test triggers: no scheduled run competes with them for the workers.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # One slot per worker, so that tasks queued together go to both workers.
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        })
        return env

    @property
    def shared(self) -> Path:
        return self.home / "shared"

    @property
    def feast_registry(self) -> str:
        return f"postgresql+psycopg://{urlsplit(self.postgres).netloc}/{self.database}"

    @property
    def online_server(self) -> str:
        return self.online_redis or self.redis

    @property
    def online_store(self) -> str:
        return f"{self.online_server}/{self.online_db}"

    def start(self) -> None:
        self.flush_redis()
        done = subprocess.run(["bash", str(STACK_SCRIPT), "start"], env=self.env, capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0:
            raise AssertionError(f"scripts/stack.sh start failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")

    def stop(self) -> None:
        subprocess.run(["bash", str(STACK_SCRIPT), "stop"], env=self.env, capture_output=True, text=True, timeout=180)
        self._drop_database()
        self.flush_redis()

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL a worker with everything it started (its session: scripts/stack.sh starts each component
        with setsid), as when its machine is lost. Returns the pids killed."""
        leader = int((self.home / "pids" / f"{name}.pid").read_text())
        table = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
        pids = [int(pid) for pid, sid in (line.split() for line in table.splitlines()) if int(sid) == leader]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def redis_client(self, db: int, server: str | None = None):
        import redis

        return redis.Redis.from_url(f"{server or self.redis}/{db}")

    def online_client(self):
        return self.redis_client(self.online_db, self.online_server)

    def flush_redis(self) -> None:
        for client in (self.redis_client(self.broker_db), self.online_client()):
            try:
                client.flushdb()
            finally:
                client.close()

    def _drop_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(f"{self.postgres}/postgres", autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                         (self.database,))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.database)))

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for log in sorted((self.home / "logs").glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def task_log(self, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        folder = self.home / "logs" / "airflow" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        path = folder / f"attempt={try_number}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- REST API v2 ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.token is None:
            passwords = self.home / "airflow" / "simple_auth_manager_passwords.json.generated"
            password = json.loads(passwords.read_text())["admin"]
            answer = requests.post(f"{self.base_url}/auth/token", json={"username": "admin", "password": password},
                                   timeout=30)
            answer.raise_for_status()
            self.token = answer.json()["access_token"]
        answer = requests.request(method, f"{self.base_url}/api/v2{path}", timeout=60,
                                  headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        if answer.status_code >= 400:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text[:2000]}")
        return answer.json()

    def wait_for_dag(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{DAG_ID}")
                return
            except AssertionError:
                time.sleep(2)
        raise AssertionError(f"the dag-processor did not register {DAG_ID} within {timeout} s\n{self.logs()}")

    def wait_for_workers(self, names: list[str], timeout: float = 300) -> None:
        """Until each worker's Celery consumer is ready (its log says so)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("ready." in (self.home / "logs" / f"{n}.log").read_text(errors="replace") for n in names):
                return
            time.sleep(1)
        raise AssertionError(f"workers {names} not ready within {timeout} s\n{self.logs()}")

    def trigger(self, run_id: str, logical_date: str) -> None:
        self.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
        self.api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id, "logical_date": logical_date})

    def run_state(self, run_id: str) -> str:
        return self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
            "task_instances"]

    def wait_for_run(self, run_id: str, timeout: float = 1200) -> str:
        deadline = time.monotonic() + timeout
        state = "queued"
        while time.monotonic() < deadline:
            state = self.run_state(run_id)
            if state in ("success", "failed"):
                break
            time.sleep(3)
        if state != "success":
            raise AssertionError(f"run {run_id} ended {state}:\n{self.failure_report(run_id)}")
        return state

    def failure_report(self, run_id: str) -> str:
        lines = []
        for ti in self.task_instances(run_id):
            lines.append(f"{ti['task_id']}[{ti['map_index']}] {ti['state']} on {ti['hostname']} try {ti['try_number']}")
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed") and ti["try_number"]:
                lines.append(self.task_log(run_id, ti["task_id"], ti["try_number"], ti["map_index"])[-3000:])
        return "\n".join(lines) + "\n" + self.logs(1500)

    def clear(self, run_id: str, task_ids: list[str]) -> None:
        """Clear these task instances (only them), so the run does them again."""
        self.api("POST", f"/dags/{DAG_ID}/clearTaskInstances", json={
            "dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "include_downstream": False,
            "only_failed": False, "reset_dag_runs": True,
        })
