"""Every operator of the provider keeps the Amazon provider's shape: arguments stored in __init__,
every templated field an attribute, and nothing heavy imported when its module is imported."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

import datacentric_airflow.operators as operators_pkg
import pytest
from airflow.sdk import BaseOperator

HEAVY = ("pandas", "numpy", "great_expectations", "feast", "dvc", "sklearn", "cleanlab", "pyarrow")
MODULES = sorted(m.name for m in pkgutil.iter_modules(operators_pkg.__path__))


def _operator_classes():
    for name in MODULES:
        module = importlib.import_module(f"datacentric_airflow.operators.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseOperator) and cls.__module__ == module.__name__:
                yield cls


@pytest.mark.parametrize("cls", list(_operator_classes()), ids=lambda c: c.__name__)
def test_template_fields_are_init_arguments(cls) -> None:
    params = inspect.signature(cls.__init__).parameters
    for field in cls.template_fields:
        assert field in params, f"{cls.__name__}.{field} is templated but not an __init__ argument"
    assert cls.__doc__ and "(templated)" in cls.__doc__ or not cls.template_fields, cls.__name__


@pytest.mark.parametrize("module", MODULES)
def test_operator_module_imports_nothing_heavy(module: str) -> None:
    probe = (
        "import json, sys; before = set(sys.modules); "
        f"import datacentric_airflow.operators.{module}; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.strip().splitlines()[-1])}
    assert not loaded & set(HEAVY), f"operators/{module}.py imports {sorted(loaded & set(HEAVY))} at import time"
