"""The embedded metadata database (SQLite) under concurrent writers: the Makefile's settings reach
Airflow, writers wait for the lock, and a transaction that starts with a savepoint (what
`airflow backfill create` does for each run) waits its turn instead of failing with "database is
locked"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.integration.airflow_processes import makefile_environment

CONNECT_ARGS = "datacentric_airflow.plugin.METADATA_DB_CONNECT_ARGS"


def wal_engine(path: Path, timeout: float) -> Engine:
    """An engine on a SQLite file in WAL mode, as Airflow opens its metadata database."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": timeout})
    event.listen(engine, "connect", lambda dbapi, record: dbapi.execute("PRAGMA journal_mode=WAL"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS runs (n INTEGER)")
    return engine


def savepoint_then_write(engine: Engine, path: Path) -> bool:
    """Like `airflow backfill create`: a savepoint, a read, then a write; meanwhile another process
    commits a write (it waits 0.1 s for the lock). Returns whether the other process got to write."""
    other = sqlite3.connect(path, timeout=0.1)
    try:
        with Session(engine) as session:
            with session.begin_nested():
                session.execute(sa.text("SELECT count(*) FROM runs")).scalar()
                try:
                    other.execute("INSERT INTO runs VALUES (1)")
                    other.commit()
                    other_wrote = True
                except sqlite3.OperationalError:
                    other_wrote = False
                session.execute(sa.text("INSERT INTO runs VALUES (2)"))
            session.commit()
    finally:
        other.close()
    return other_wrote


def test_a_savepoint_takes_the_write_lock_first(tmp_path: Path) -> None:
    import datacentric_airflow.plugin  # noqa: F401  (installs the handling, as Airflow's import does)

    path = tmp_path / "airflow.db"
    assert savepoint_then_write(wal_engine(path, timeout=5), path) is False  # the other writer waited
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT n FROM runs").fetchall() == [(2,)]


WITHOUT_THE_LISTENER = """
import importlib.util, sys, time
import sqlalchemy as sa
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)
started = time.monotonic()
try:
    probe.savepoint_then_write(probe.wal_engine(sys.argv[2], timeout=30), sys.argv[2])
except sa.exc.OperationalError as exc:
    print("refused" if "database is locked" in str(exc) else f"other: {exc}", round(time.monotonic() - started, 1))
else:
    print("written")
"""


def test_without_it_the_savepoint_fails_at_once_however_long_the_busy_timeout(tmp_path: Path) -> None:
    # In a fresh interpreter that never loaded the plugin (whose listener the test session's Engine
    # class holds, possibly several times over), a savepoint opened before the write is refused.
    done = subprocess.run([sys.executable, "-c", WITHOUT_THE_LISTENER, __file__, str(tmp_path / "airflow.db")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-3000:]
    verdict, seconds = done.stdout.split()
    assert verdict == "refused"
    assert float(seconds) < 10  # refused, not waited for: a longer timeout alone cannot help


def test_the_connect_arguments_are_for_sqlite_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from datacentric_airflow.plugin import SQLITE_BUSY_TIMEOUT, _metadata_db_connect_args

    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite:////tmp/x/airflow.db")
    assert _metadata_db_connect_args() == {"timeout": SQLITE_BUSY_TIMEOUT}
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg://u@h/db")
    assert _metadata_db_connect_args() == {}


PROBE = """
import json
from airflow import settings
from sqlalchemy.orm import Session
with settings.engine.connect() as conn:
    busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
print(json.dumps({"busy_timeout_ms": busy, "journal_mode": journal, "async": str(settings.async_engine.url)}))
"""


def test_the_makefile_settings_reach_airflows_engine(tmp_path: Path) -> None:
    env = makefile_environment(tmp_path / "var", 8080)
    for key, value in {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": CONNECT_ARGS,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": CONNECT_ARGS,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    }.items():
        assert env[key] == value, key
    assert 1 <= int(env["AIRFLOW__CORE__PARALLELISM"]) <= os.cpu_count() * 2 + 4
    assert int(env["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"]) <= int(env["AIRFLOW__CORE__PARALLELISM"])
    assert int(env["AIRFLOW__WORKERS__EXECUTION_API_RETRIES"]) > 5  # Airflow's default gives up after ~30 s
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["busy_timeout_ms"] == 30_000 and probe["journal_mode"] == "wal"
    assert probe["async"].startswith("sqlite+aiosqlite:///")
