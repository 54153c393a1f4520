"""Every operator of the provider keeps the Amazon provider's shape: arguments stored in __init__,
every templated field an attribute, and nothing heavy imported when its module is imported."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

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


PLANTED_OPERATOR = '''"""An operator module that imports numpy at its top: the check below must catch it."""

import numpy  # noqa: F401
from airflow.sdk import BaseOperator


class PlantedOperator(BaseOperator):
    pass
'''


@pytest.fixture(scope="module")
def module_imports(import_probe, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """What importing each operator module loads, from one interpreter (each import in a fresh
    child of it). A planted module with a heavy import goes first and last: both must be caught."""
    folder = tmp_path_factory.mktemp("planted")
    first, last = folder / "planted_first.py", folder / "planted_last.py"
    for planted in (first, last):
        planted.write_text(PLANTED_OPERATOR)
    results = import_probe([str(first), *(f"datacentric_airflow.operators.{m}" for m in MODULES), str(last)])
    results["planted"] = [results.pop(str(first)), results.pop(str(last))]
    return results


def heavy_on_import(result: dict) -> list[str]:
    """Heavy packages loaded once the module is imported, counted from a bare interpreter."""
    assert result["error"] is None, result["error"][-2000:]
    return sorted(set(result["present"]) & set(HEAVY))


@pytest.mark.parametrize("module", MODULES)
def test_operator_module_imports_nothing_heavy(module: str, module_imports: dict[str, dict]) -> None:
    heavy = heavy_on_import(module_imports[f"datacentric_airflow.operators.{module}"])
    assert not heavy, f"operators/{module}.py imports {heavy} at import time"


def test_a_heavy_import_in_an_operator_module_is_detected(module_imports: dict[str, dict]) -> None:
    for result in module_imports["planted"]:
        assert heavy_on_import(result) == ["numpy"]
