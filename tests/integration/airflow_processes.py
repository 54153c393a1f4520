"""Airflow's own processes on the embedded default, for tests that need a real scheduler.

`airflow api-server`, `airflow scheduler` (LocalExecutor) and `airflow dag-processor` run as separate
processes on a temporary AIRFLOW_HOME with its SQLite database, the project's dags/ and plugins/
folders and the environment the Makefile gives `make ui` and `make demo`: the settings are read from
the Makefile itself (`make` prints the environment of a recipe), so a test checks what a user runs,
not a copy of it. Added are only what must differ between two sessions on one machine (free ports,
the secrets the processes share) and `[scheduler] use_job_schedule = False`: the only runs are those
a test asks for.

Two fixtures (import them into the test module): `airflow_processes` starts all three and waits for the
API; `airflow_home` only prepares the home (migrated database, login, sample data) for a test that
starts the components itself, in the order it needs:

    processes.start(("scheduler", "dag-processor"))   # each in its own session, with its own log
    processes.wait_for_dag("datacentric_pipeline")    # read from the database: no API needed
    processes.airflow("backfill", "create", ...)      # the CLI with the same environment
    processes.start(("api-server",))                  # waits until it answers
    processes.api("GET", "/dags/...")                 # REST API v2, signed in
    processes.alive("scheduler")

Nothing here skips, and `stop` ends only the processes it started (each in its own session, by id).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor")
# Variables of the test session (tests/conftest.py) and of make itself that must not reach the processes.
_DROPPED_PREFIXES = ("AIRFLOW", "DATACENTRIC_", "PYTEST", "MAKE", "MFLAGS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def makefile_environment(var: Path, api_port: int) -> dict[str, str]:
    """The environment of a Makefile recipe (what `make ui` and `make demo` run with) for a data folder
    `var` (DATACENTRIC_VAR, with AIRFLOW_HOME under it) and an API server port (AIRFLOW_PORT)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and k != "PYTHONPATH"}
    base.update(DATACENTRIC_VAR=str(var), AIRFLOW_PORT=str(api_port))
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "-f", "Makefile", "-f", "-", "_test_environment"],
        input="_test_environment:\n\t@env -0\n", cwd=PROJECT, env=base, capture_output=True, text=True, timeout=60,
    )
    if done.returncode != 0:
        raise AssertionError(f"make could not print the Makefile's environment:\n{done.stderr[-2000:]}")
    env = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    return {k: v for k, v in env.items() if not k.startswith(("MAKE", "MFLAGS"))}


class AirflowProcesses:
    """api-server, scheduler and dag-processor on a fresh embedded setup under `root`; `env` adds or
    overrides settings."""

    def __init__(self, root: Path, *, database: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.api_port = free_port()
        self.env = makefile_environment(root / "var", self.api_port)
        self.env.update({
            # Shared by every process (else each would make its own, and task tokens would not verify).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # Ports another session on this machine may hold.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            # Only the runs a test asks for: no scheduled run of today competes with them.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        })
        self.env.update(env or {})
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.var = Path(self.env["DATACENTRIC_VAR"])
        self.logs = root / "logs"
        self.processes: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        self._database = database

    # -- set-up -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """The Airflow home with a migrated SQLite database (a copy of `database` when given, else
        `airflow db migrate`), the login file, and the bundled sample data in the landing zone."""
        for folder in (self.home, self.logs, self.var / "lineage"):
            folder.mkdir(parents=True, exist_ok=True)
        if self._database is not None:
            shutil.copyfile(self._database, self.home / "airflow.db")
        else:
            self.check("db", "migrate")
        subprocess.run([sys.executable, str(PROJECT / "scripts" / "ui_login.py"),
                        str(self.home / "simple_auth_manager_passwords.json.generated")],
                       env=self.env, check=True, capture_output=True, text=True, timeout=60)
        done = subprocess.run([sys.executable, "-m", "datacentric", "samples"], env=self.env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise AssertionError(f"python -m datacentric samples failed:\n{done.stderr[-3000:]}")

    def start(self, components: tuple[str, ...] = COMPONENTS, timeout: float = 240) -> None:
        """Start the components, each in its own session with its own log, and wait for the API."""
        for name in components:
            with (self.logs / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [str(BIN / "airflow"), *name.split()], env=self.env, cwd=self.root, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if "api-server" in components:
            self.wait_for_api(timeout)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM each process group this object started, then SIGKILL what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the group: task processes the executor left
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    # -- processes ----------------------------------------------------------------------------

    def query(self, sql: str, *parameters: Any) -> list[tuple]:
        """Rows of a read-only query on the metadata database (works before the API server is up)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True,
                                                timeout=30)) as db:
            return db.execute(sql, parameters).fetchall()

    def wait_for(self, sql: str, *parameters: Any, timeout: float = 300, what: str = "") -> list[tuple]:
        """Until the read-only query returns rows; those rows. Fails when a component exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query(sql, *parameters)
            if rows:
                return rows
            for name in self.processes:
                if not self.alive(name):
                    raise AssertionError(f"{name} exited while waiting for {what or sql}\n{self.report()}")
            time.sleep(1)
        raise AssertionError(f"waited {timeout} s for {what or sql}\n{self.report()}")

    def alive(self, name: str) -> bool:
        return name in self.processes and self.processes[name].poll() is None

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """The `airflow` command line with the processes' environment; its output captured."""
        return subprocess.run([str(BIN / "airflow"), *args], env=self.env, cwd=self.root, capture_output=True,
                              text=True, timeout=timeout)

    def airflow_in_background(self, *args: str) -> subprocess.Popen:
        """The `airflow` command line started, not awaited (`communicate()` collects its output)."""
        return subprocess.Popen([str(BIN / "airflow"), *args], env=self.env, cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def check(self, *args: str, timeout: float = 300) -> str:
        done = self.airflow(*args, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}\n"
                                 f"{done.stderr[-4000:]}")
        return done.stdout

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def report(self, tail: int = 3000) -> str:
        """The end of every component's log, for an assertion message."""
        return "\n".join(f"--- {name} ({'running' if self.alive(name) else 'exited'})\n{self.log(name, tail)}"
                         for name in self.processes)

    # -- REST API v2 --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_for_api(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    return
            for name in self.processes:
                if not self.alive(name):
                    raise AssertionError(f"{name} exited before the API server answered\n{self.report()}")
            time.sleep(1)
        raise AssertionError(f"the API server did not answer within {timeout} s\n{self.report()}")

    def get(self, path: str) -> requests.Response:
        """GET any path of the API server (the UI, a plugin's app), signed in as the login file's admin."""
        return requests.get(f"{self.base_url}{path}", headers=self._auth(), timeout=60)

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
            answer = requests.post(f"{self.base_url}/auth/token",
                                   json={"username": "admin", "password": passwords["admin"]}, timeout=30)
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """REST API v2, signed in; the answer's JSON (fails on an error status)."""
        answer = requests.request(method, f"{self.base_url}/api/v2{path}", timeout=60, headers=self._auth(),
                                  **kwargs)
        if answer.status_code >= 400:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text[:2000]}")
        return answer.json()

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Until the dag-processor has parsed and serialized `dag_id`."""
        self.wait_for("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id, timeout=timeout,
                      what=f"the dag-processor to serialize {dag_id}")

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "logical_date"})[
            "dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 200})[
            "task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        path = folder / f"attempt={try_number}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def failure_report(self, dag_id: str, run_id: str) -> str:
        lines = []
        for ti in self.task_instances(dag_id, run_id):
            lines.append(f"{ti['task_id']}[{ti['map_index']}] {ti['state']} try {ti['try_number']}")
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed") and ti["try_number"]:
                lines.append(self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])[-3000:])
        return "\n".join(lines)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory, empty_airflow_db: Path) -> Iterator[AirflowProcesses]:
    """A fresh embedded setup (see the module docstring), prepared, nothing started yet: the test
    starts the components in the order it needs. Whatever it started is stopped after the module."""
    processes = AirflowProcesses(tmp_path_factory.mktemp("airflow-processes"), database=empty_airflow_db)
    try:
        processes.prepare()
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="module")
def airflow_processes(airflow_home: AirflowProcesses) -> AirflowProcesses:
    """api-server, scheduler and dag-processor started on a fresh embedded setup, the API answering."""
    airflow_home.start()
    return airflow_home
