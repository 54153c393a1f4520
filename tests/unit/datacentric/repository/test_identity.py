"""A repository's identity is made once and kept; a check against another or a missing repository fails
with an error that names the worker, the path and both identities."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from datacentric.repository import DataRepository
from datacentric.repository.identity import (
    RepositoryIdentityError,
    check_repository_identity,
    check_shared_storage,
    repository_identity,
)


def test_identity_is_made_once_and_agreed_on(tmp_path: Path) -> None:
    root = DataRepository(tmp_path / "repository").init().root
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: repository_identity(root), range(16)))
    assert len(ids) == 1
    (identity,) = ids
    assert len(identity) == 32
    assert repository_identity(root) == identity
    assert not list((root / ".repository").glob("*.tmp"))
    check_repository_identity(root, identity)


def test_identity_stays_out_of_git(tmp_path: Path) -> None:
    root = DataRepository(tmp_path / "repository").init().root
    subprocess.run(["git", "init", "--quiet"], cwd=root, check=True)
    repository_identity(root)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    assert ".repository" not in status


def test_another_repository_is_refused(tmp_path: Path) -> None:
    first = DataRepository(tmp_path / "one").init().root
    second = DataRepository(tmp_path / "two").init().root
    expected = repository_identity(first)
    other = repository_identity(second)
    with pytest.raises(RepositoryIdentityError, match=f"is repository {other}, not the repository {expected}"):
        check_repository_identity(second, expected)


def test_missing_repository_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "not-mounted" / "repository"
    with pytest.raises(RepositoryIdentityError, match="does not exist on worker"):
        check_repository_identity(missing, "0" * 32)
    assert not missing.exists()
    bare = DataRepository(tmp_path / "fresh").init().root
    with pytest.raises(RepositoryIdentityError, match="has no identity"):
        check_repository_identity(bare, "0" * 32)


def test_unmounted_shared_storage_is_refused(tmp_path: Path) -> None:
    check_shared_storage(None)
    check_shared_storage(tmp_path)
    with pytest.raises(RepositoryIdentityError, match="DATACENTRIC_SHARED"):
        check_shared_storage(tmp_path / "absent")
