"""Test settings shared by every test: an isolated Airflow home and data folders per session.

The environment is set before anything imports airflow, so Airflow's configuration reads it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="datacentric-tests-"))

os.environ.setdefault("AIRFLOW_HOME", str(_SESSION_DIR / "airflow"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__OPENLINEAGE__DISABLED"] = "True"
os.environ["DATACENTRIC_VAR"] = str(_SESSION_DIR / "var")
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
