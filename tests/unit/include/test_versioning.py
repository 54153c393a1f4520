from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import RepositoryError
from datacentric.repository import DataRepository
from datacentric.versioning import Versioner, tag_name


@pytest.fixture
def repo(tmp_path: Path) -> DataRepository:
    repo = DataRepository(tmp_path / "repo").init()
    repo.publish_frame("raw", "src/a.parquet", pd.DataFrame({"x": range(100)}))
    return repo


def _tags(root: Path) -> list[str]:
    return subprocess.run(["git", "tag"], cwd=root, capture_output=True, text=True, check=True).stdout.split()


def _commits(root: Path) -> int:
    out = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_snapshot_tags_and_is_idempotent(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root, remote=str(tmp_path / "remote"))
    first = v.snapshot("dag/validated/20261031T000000Z", message="m", pins={"manifest_sha256": "abc"})
    again = v.snapshot("dag/validated/20261031T000000Z", message="m", pins={"manifest_sha256": "abc"})
    assert first.data_state_id == again.data_state_id and first.commit == again.commit
    assert not again.changed
    assert _tags(repo.root) == ["dag/validated/20261031T000000Z"]
    assert _commits(repo.root) == 1
    assert any((tmp_path / "remote").rglob("*")), "data was not pushed to the DVC remote"


def test_new_content_new_id_old_tag_kept(repo: DataRepository) -> None:
    v = Versioner(repo.root)
    first = v.snapshot("t/1", message="m")
    repo.publish_frame("raw", "src/b.parquet", pd.DataFrame({"x": [1]}))
    second = v.snapshot("t/1", message="m")
    assert second.data_state_id != first.data_state_id
    assert second.tag == "t/1+2"
    assert v.resolve("t/1")["commit"] == first.commit


def test_restore_by_id_and_date_verifies_hashes(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root, remote=str(tmp_path / "remote"))
    first = v.snapshot("t/1", message="m")
    original = (repo.root / "raw" / "src" / "a.parquet").read_bytes()
    repo.publish_frame("raw", "src/a.parquet", pd.DataFrame({"x": [42]}))
    v.snapshot("t/2", message="m")
    restored = v.restore(first.data_state_id, tmp_path / "restored")
    assert restored["files_verified"] >= 1
    assert (tmp_path / "restored" / "raw" / "src" / "a.parquet").read_bytes() == original
    by_date = v.resolve(v.states()[-1]["date"])
    assert by_date["tag"] == "t/2"


def test_restore_from_remote_when_cache_is_gone(repo: DataRepository, tmp_path: Path) -> None:
    import shutil

    v = Versioner(repo.root, remote=str(tmp_path / "remote"))
    snap = v.snapshot("t/1", message="m")
    moved = tmp_path / "elsewhere"
    shutil.copytree(repo.root, moved)
    shutil.rmtree(moved / ".dvc" / "cache")
    restored = Versioner(moved).restore(snap.data_state_id, tmp_path / "restored")
    assert restored["files_verified"] >= 1


def test_restore_detects_tampering(repo: DataRepository, tmp_path: Path) -> None:
    from datacentric.versioning import verify_tree

    v = Versioner(repo.root)
    v.snapshot("t/1", message="m")
    target = repo.root / "raw" / "src" / "a.parquet"
    target.unlink()  # DVC may have linked it from the cache: replace, never edit in place
    target.write_bytes(b"tampered")
    with pytest.raises(RepositoryError, match="does not match its recorded hash"):
        verify_tree(repo.root)


def test_unknown_state(repo: DataRepository) -> None:
    with pytest.raises(RepositoryError, match="no data state 'ds-nope'"):
        Versioner(repo.root).resolve("ds-nope")


def test_concurrent_snapshots_both_succeed(repo: DataRepository) -> None:
    v1, v2 = Versioner(repo.root), Versioner(repo.root)
    errors: list[BaseException] = []

    def run(v: Versioner, tag: str) -> None:
        try:
            v.snapshot(tag, message=tag)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(v1, "a/1")), threading.Thread(target=run, args=(v2, "b/1"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(_tags(repo.root)) == ["a/1", "b/1"]


def test_tag_name_is_a_valid_ref() -> None:
    assert tag_name("my dag", "validated", "2026-10-31T00:00:00+00:00") == "my-dag/validated/2026-10-31T00-00-00+00-00"
