"""Test settings shared by every test: an isolated Airflow home and data folders per session.

The environment is set before anything imports airflow, so Airflow's configuration reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT / "tests" / "fixtures"
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="datacentric-tests-"))

# Settings exported for the demo and the UI (the Makefile, scripts/env.sh) must not reach the tests:
# each session gets its own Airflow home and data folders.
for _name in [n for n in os.environ if n.startswith("DATACENTRIC_") and not n.startswith("DATACENTRIC_TEST_")]:
    os.environ.pop(_name)
os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__OPENLINEAGE__DISABLED"] = "True"
os.environ["DATACENTRIC_VAR"] = str(_SESSION_DIR / "var")
for _name in ("AIRFLOW__API__BASE_URL", "AIRFLOW__API__PORT", "AIRFLOW__OPENLINEAGE__TRANSPORT"):
    os.environ.pop(_name, None)
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
for path in (PROJECT / "include", PROJECT / "plugins"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def bundled_manifest() -> Path:
    return PROJECT / "include" / "manifests" / "shop" / "manifest.yaml"


@pytest.fixture(scope="session")
def reviews_manifest() -> Callable[[str], str]:
    """The manifest of the labeling tests, tests/fixtures/manifests/reviews.yaml (a `reviews` source
    with `id` and `text`, and a label task over it) completed with the label task's own lines: its
    name, classes and backend, each indented by two spaces."""
    head = (FIXTURES / "manifests" / "reviews.yaml").read_text(encoding="utf-8")
    return lambda label_task: head + label_task


@pytest.fixture
def labeling_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     reviews_manifest: Callable[[str], str]) -> Callable[[str, dict[str, str]], SimpleNamespace]:
    """Write the labeling manifest with the given label task to tmp_path, and publish the given
    reviews (id -> text) to the validated zone of a data repository there, the one the hooks open
    (DATACENTRIC_REPOSITORY)."""

    def make(label_task: str, reviews: dict[str, str]) -> SimpleNamespace:
        import pandas as pd
        from datacentric.repository import DataRepository

        monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "repo"))
        repo = DataRepository(tmp_path / "repo").init()
        repo.publish_frame("validated", "reviews/data.parquet",
                           pd.DataFrame({"id": list(reviews), "text": list(reviews.values())}))
        manifest = tmp_path / "manifest.yaml"
        manifest.write_text(reviews_manifest(label_task), encoding="utf-8")
        return SimpleNamespace(manifest=manifest, repo=repo)

    return make


@pytest.fixture(scope="session")
def empty_airflow_db(session_dir: Path) -> Path:
    """An Airflow metadata database (SQLite) with every migration applied and nothing else, made once
    per session by `airflow db migrate`; fixtures that need a fresh one copy it."""
    home = session_dir / "airflow-empty"
    home.mkdir()
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                             capture_output=True, text=True, env=env)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return home / "airflow.db"


@pytest.fixture(scope="session")
def airflow_db(empty_airflow_db: Path) -> None:
    """The session's Airflow metadata database, migrated: a copy of the empty one, or, if the session
    already has a database, that one migrated in place."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ and not (home / "airflow.db").exists():
        shutil.copyfile(empty_airflow_db, home / "airflow.db")
        return
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                             capture_output=True, text=True, env=os.environ)
    assert migrate.returncode == 0, migrate.stderr[-3000:]


@pytest.fixture(scope="session")
def import_probe(session_dir: Path) -> Iterator[Callable[[list[str]], dict[str, dict[str, Any]]]]:
    """Import each target (a module name or a DAG file's path) from the same fresh, warmed-up
    interpreter and return what each pulled in (tests/fixtures/import_probe.py). One interpreter
    serves the whole session: Airflow's start-up is paid once, each import runs in a forked child."""
    log = session_dir / "import-probe.log"
    with log.open("w") as stderr:
        server = subprocess.Popen([sys.executable, str(FIXTURES / "import_probe.py")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)

    def probe(targets: list[str]) -> dict[str, dict[str, Any]]:
        results = {}
        for target in targets:
            server.stdin.write(target + "\n")
            server.stdin.flush()
            results[target] = _probe_answer(server, log)
            assert results[target].pop("target") == target
        return results

    try:
        yield probe
    finally:
        server.stdin.close()
        server.wait(timeout=60)


def _probe_answer(server: subprocess.Popen, log: Path) -> dict[str, Any]:
    for line in server.stdout:
        if line.startswith("import-probe: "):
            return json.loads(line.removeprefix("import-probe: "))
    raise AssertionError(f"the import probe exited ({server.wait()}): {log.read_text()[-3000:]}")
