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
