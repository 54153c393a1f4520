"""Bad input fails a task at once (AirflowFailException, not retried); other errors keep their retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from datacentric.errors import InputError, ManifestError, ParamError, SourceError
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.operators.features import FeastMaterializeOperator
from datacentric_airflow.operators.manifest import ManifestSourcesOperator


def test_a_missing_manifest_fails_without_retry_and_keeps_the_library_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    op = ManifestSourcesOperator(task_id="read_manifest", manifest=str(missing))
    with pytest.raises(AirflowFailException, match="ManifestError: .*nope.yaml") as caught:
        op.execute({})
    assert isinstance(caught.value.__cause__, ManifestError)


def test_a_bad_param_fails_without_retry(bundled_manifest: Path) -> None:
    op = FeastMaterializeOperator(task_id="materialize", manifest=str(bundled_manifest), start="yesterday")
    context: dict[str, Any] = {"dag_run": type("Run", (), {"dag_id": "d", "run_id": "r", "run_after": None})(),
                               "data_interval_start": None, "data_interval_end": None, "logical_date": None}
    with pytest.raises(AirflowFailException, match="start: 'yesterday' is not an ISO date"):
        op.execute(context)


@pytest.mark.parametrize("error", [OSError("connection reset"), SourceError("s", "s3://b/k", "timed out")])
def test_errors_a_retry_can_fix_pass_through_unchanged(error: Exception) -> None:
    @fail_fast_on_bad_input
    def execute(context: Any) -> None:
        raise error

    with pytest.raises(type(error)) as caught:
        execute({})
    assert caught.value is error


def test_param_errors_are_input_errors_and_value_errors() -> None:
    assert issubclass(ParamError, InputError) and issubclass(ParamError, ValueError)
    assert not issubclass(SourceError, InputError)  # a source may be down for a while: retried
