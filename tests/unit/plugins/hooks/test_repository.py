"""The data repository hook checks, inside a running task, that its worker sees the repository the run
started on (the identity an upstream ManifestSourcesOperator recorded), before creating anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from datacentric.repository import DataRepository
from datacentric.repository.identity import RepositoryIdentityError, repository_identity
from datacentric_airflow.hooks import repository as hook_module
from datacentric_airflow.hooks.repository import REPOSITORY_ID_KEY, DataRepositoryHook
from datacentric_airflow.operators.features import FeastMaterializeOperator
from datacentric_airflow.operators.manifest import ManifestSourcesOperator


class _TaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[tuple[str, str], Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[("read_manifest", key)] = value

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcom.get((task_ids, key))


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A two-task run (read_manifest >> materialize) whose current task is `materialize`."""
    with DAG("identity", schedule=None):
        first = ManifestSourcesOperator(task_id="read_manifest", manifest="m.yaml")
        later = FeastMaterializeOperator(task_id="materialize", manifest="m.yaml")
        first >> later
    ti = _TaskInstance()
    context = {"task": later, "ti": ti}
    monkeypatch.setattr("airflow.sdk.get_current_context", lambda: context)
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "repository"))
    monkeypatch.setenv("DATACENTRIC_FEATURE_REPO", str(tmp_path / "feature_repo"))
    return ti, tmp_path


def test_the_run_identity_is_read_from_the_upstream_recorder(run) -> None:
    ti, tmp_path = run
    expected = repository_identity(DataRepository(tmp_path / "repository").init().root)
    ti.xcom_push(REPOSITORY_ID_KEY, expected)
    assert hook_module.run_repository_identity() == expected
    assert DataRepositoryHook().get_repository().root == tmp_path / "repository"
    assert DataRepositoryHook().get_feature_repo() == tmp_path / "feature_repo"


def test_a_worker_without_the_repository_fails_at_once_and_creates_nothing(run) -> None:
    ti, tmp_path = run
    ti.xcom_push(REPOSITORY_ID_KEY, "a" * 32)
    with pytest.raises(RepositoryIdentityError, match="does not exist on worker"):
        DataRepositoryHook().get_repository()
    with pytest.raises(RepositoryIdentityError, match="does not exist on worker"):
        DataRepositoryHook().get_feature_repo()
    assert not (tmp_path / "repository").exists()


def test_a_worker_with_another_copy_fails_at_once(run) -> None:
    ti, tmp_path = run
    found = repository_identity(DataRepository(tmp_path / "repository").init().root)
    ti.xcom_push(REPOSITORY_ID_KEY, "b" * 32)
    with pytest.raises(RepositoryIdentityError, match=f"is repository {found}, not the repository {'b' * 32}"):
        DataRepositoryHook().get_repository()


def test_an_unmounted_shared_storage_fails_at_once(run, monkeypatch: pytest.MonkeyPatch) -> None:
    _, tmp_path = run
    monkeypatch.setenv("DATACENTRIC_SHARED", str(tmp_path / "not-mounted"))
    with pytest.raises(RepositoryIdentityError, match="DATACENTRIC_SHARED"):
        DataRepositoryHook().get_repository()


def test_recording_pushes_the_identity(run) -> None:
    ti, tmp_path = run
    recorded = DataRepositoryHook().record_repository_identity({"ti": ti})
    assert ti.xcom[("read_manifest", REPOSITORY_ID_KEY)] == recorded
    assert recorded == repository_identity(tmp_path / "repository")
