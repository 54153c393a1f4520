from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from datacentric.errors import ParamError, RepositoryError
from datacentric.repository.store import DataRepository
from datacentric.versioning import cache, scanner, state_id
from datacentric.versioning.state_id import tag_name
from datacentric.versioning.versioner import Versioner, verify_tree

PROJECT = Path(__file__).resolve().parents[4]


@pytest.fixture
def repo(tmp_path: Path) -> DataRepository:
    repo = DataRepository(tmp_path / "repo").init()
    repo.publish_frame("raw", "src/a.parquet", pd.DataFrame({"x": range(100)}))
    return repo


@pytest.fixture
def no_racy_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust directory mtimes from the previous scan at once (tests need not wait out the margin)."""
    monkeypatch.setattr(scanner, "RACY_MARGIN_NS", 0)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def _tags(root: Path) -> list[str]:
    return _git(root, "tag").split()


def _commits(root: Path) -> int:
    return int(_git(root, "rev-list", "--count", "HEAD"))


def _count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hashed: list[str] = []
    original = cache.ObjectStore.add_file

    def counting(self: cache.ObjectStore, path: str) -> tuple[str, os.stat_result]:
        hashed.append(path)
        return original(self, path)

    monkeypatch.setattr(cache.ObjectStore, "add_file", counting)
    return hashed


def _write(root: Path, relpath: str, data: bytes) -> None:
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.x.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)  # the repository's way: a new inode renamed into place


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshot_tags_and_is_idempotent(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root, remote=str(tmp_path / "remote"))
    first = v.snapshot("dag/validated/20261031T000000Z", message="m", pins={"manifest_sha256": "abc"})
    again = v.snapshot("dag/validated/20261031T000000Z", message="m", pins={"manifest_sha256": "abc"})
    assert first.data_state_id == again.data_state_id and first.commit == again.commit
    assert not again.changed
    assert again.reproduction["status"] == "identical"
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
    assert second.reproduction["status"] == "different"
    assert second.reproduction["added_sample"] == ["raw/src/b.parquet"]
    assert v.resolve("t/1")["commit"] == first.commit


def test_zones_are_recorded_exactly_as_dvc_add_records_them(tmp_path: Path) -> None:
    """Same .dvc files and .dir objects as `dvc add`, and DVC itself sees the workspace as clean."""
    from dvc.repo import Repo

    root = tmp_path / "repo"
    names = ["a.bin", "sub/b c.bin", "sub-x/é.bin", "sub/deeper/d.bin", 'q"uote.bin', "z/.hidden"]
    for i, name in enumerate(names):
        _write(root, f"raw/{name}", os.urandom(100 + i))
    _write(root, "labels/t/v.json", b"{}")
    shutil.copytree(root, tmp_path / "copy")
    Versioner(root).snapshot("t/1", message="m", push=False)
    copy = tmp_path / "copy"
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    with Repo.init(str(copy)) as dvc_repo:
        dvc_repo.add([str(copy / "raw"), str(copy / "labels")])
    for zone in ("raw", "labels"):
        assert (root / f"{zone}.dvc").read_text() == (copy / f"{zone}.dvc").read_text()
    with Repo(str(root)) as dvc_repo:
        assert dvc_repo.status() == {}
    assert verify_tree(root) == len(names) + 1


def test_incremental_snapshot_hashes_only_new_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_racy_wait: None
) -> None:
    root = tmp_path / "repo"
    for part in range(5):
        for i in range(20):
            _write(root, f"raw/src/p{part}/f{i}.bin", os.urandom(64))
    v = Versioner(root)
    v.snapshot("t/1", message="m", push=False)
    hashed = _count_hashing(monkeypatch)
    nothing = v.snapshot("t/2", message="m", push=False)
    assert hashed == [] and not nothing.changed
    _write(root, "raw/src/p9/new1.bin", b"new one")
    _write(root, "raw/src/p9/new2.bin", b"new two")
    _write(root, "raw/src/p0/f3.bin", b"replaced")
    snap = v.snapshot("t/3", message="m", push=False)
    assert sorted(Path(p).name for p in hashed) == ["f3.bin", "new1.bin", "new2.bin"]
    assert snap.changed
    restored = v.restore("t/3", tmp_path / "restored")
    assert restored["files_verified"] == 102
    assert (tmp_path / "restored/raw/src/p0/f3.bin").read_bytes() == b"replaced"


def test_removed_files_and_emptied_zones_leave_the_snapshot(tmp_path: Path, no_racy_wait: None) -> None:
    root = tmp_path / "repo"
    _write(root, "raw/s/a.bin", b"a")
    _write(root, "raw/s/b.bin", b"b")
    _write(root, "labels/t/x.bin", b"x")
    v = Versioner(root)
    v.snapshot("t/1", message="m", push=False)
    (root / "raw/s/b.bin").unlink()
    shutil.rmtree(root / "labels/t")
    v.snapshot("t/2", message="m", push=False)
    assert not (root / "labels.dvc").exists()
    assert set(v.dir_entries(v.zone_contents("HEAD")["raw"].md5)) == {"s/a.bin"}
    assert set(v.zone_contents(v.resolve("t/1")["commit"])) == {"raw", "labels"}


def test_rescan_finds_an_in_place_edit(tmp_path: Path, no_racy_wait: None) -> None:
    """In-place writes keep the inode and the folder's mtime; a rescan hashes everything again."""
    root = tmp_path / "repo"
    _write(root, "raw/s/a.bin", b"first")
    v = Versioner(root, link_types=("copy",))
    v.snapshot("t/1", message="m", push=False)
    target = root / "raw/s/a.bin"
    target.chmod(0o644)
    with target.open("r+b") as handle:
        handle.write(b"edit!")
    snap = v.snapshot("t/2", message="m", push=False, rescan=True)
    assert snap.changed
    assert v.dir_entries(v.zone_contents("HEAD")["raw"].md5)["s/a.bin"] == cache.md5_file(target)


def test_temporary_files_of_publishers_are_not_snapshotted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _write(root, "raw/s/a.bin", b"a")
    (root / "raw/s/.a.bin.host.123.abcd.tmp").write_bytes(b"half written")
    v = Versioner(root)
    v.snapshot("t/1", message="m", push=False)
    assert list(v.dir_entries(v.zone_contents("HEAD")["raw"].md5)) == ["s/a.bin"]


@pytest.mark.parametrize("links, shares_inode", [(("reflink", "hardlink", "copy"), True), (("copy",), False)])
def test_cache_link_types(tmp_path: Path, links: tuple[str, ...], shares_inode: bool) -> None:
    """Hardlinks (this filesystem has no reflinks) share the workspace file's inode; copies do not."""
    root = tmp_path / "repo"
    _write(root, "raw/s/a.bin", b"payload")
    v = Versioner(root, link_types=links)
    v.snapshot("t/1", message="m", push=False)
    md5 = cache.md5_file(root / "raw/s/a.bin")
    cached = root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert cached.read_bytes() == b"payload"
    assert (cached.stat().st_ino == (root / "raw/s/a.bin").stat().st_ino) is shares_inode
    assert cached.stat().st_mode & 0o222 == 0, "cache objects are read-only"
    assert v.restore("t/1", tmp_path / "restored")["files_verified"] == 1


def test_data_state_id_pins_content_and_given_versions(repo: DataRepository) -> None:
    v = Versioner(repo.root)
    repo.publish_frame("labels", "task/consolidated/j.parquet", pd.DataFrame({"label": ["a"]}))
    pins = {"manifest_sha256": "m1", "manifest_state_sha256": "s1", "feature_definitions_sha256": "f1",
            "code_revision": "c1"}
    snap = v.snapshot("t/1", message="m", pins=pins, run={"run_id": "r1"})
    assert set(snap.pins) == {"data_tree", "zones", "label_version", *pins}
    assert snap.pins["label_version"] == snap.pins["zones"]["labels"]
    assert snap.data_state_id == state_id.data_state_id(snap.pins)
    other = v.snapshot("t/2", message="m", pins={**pins, "code_revision": "c2"})
    assert other.data_state_id != snap.data_state_id and other.commit == snap.commit
    record = v.resolve(snap.data_state_id)
    assert record["run"] == {"run_id": "r1"} and record["manifest_state_sha256"] == "s1"


def test_feature_definitions_hash_ignores_formatting() -> None:
    assert state_id.definitions_sha256({"a": 1, "b": [1, 2]}) == state_id.definitions_sha256({"b": [1, 2], "a": 1})
    assert state_id.definitions_sha256({"a": 1}) != state_id.definitions_sha256({"a": 2})
    assert state_id.definitions_sha256(None) is None


# -- re-running a snapshotted interval ------------------------------------------------------------


def test_rerun_of_an_earlier_stage_reproduces_its_tag(repo: DataRepository) -> None:
    """After later stages added files, re-snapshotting an earlier stage finds every tagged file
    unchanged: the tag is reused, nothing is committed."""
    v = Versioner(repo.root)
    validated = v.snapshot("d/validated/i1", message="m")
    repo.publish_frame("labels", "t/x.parquet", pd.DataFrame({"l": [1]}))
    repo.publish_frame("reports", "labeling/r.html", pd.DataFrame({"r": [1]}))
    v.snapshot("d/labels/i1", message="m")
    commits, tags = _commits(repo.root), _tags(repo.root)
    again = v.snapshot("d/validated/i1", message="m")
    assert again.reproduction["status"] == "identical"
    assert again.reproduction["files_compared"] == 1 and again.reproduction["added"] == 2
    assert again.data_state_id == validated.data_state_id
    assert (_commits(repo.root), _tags(repo.root)) == (commits, tags)


def test_rerun_with_different_content_is_reported_and_tagged_anew(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root)
    first = v.snapshot("d/raw/i1", message="m")
    original = (repo.root / "raw/src/a.parquet").read_bytes()
    repo.publish_frame("raw", "src/a.parquet", pd.DataFrame({"x": [7]}))
    second = v.snapshot("d/raw/i1", message="m")
    report = second.reproduction
    assert report["status"] == "different" and report["changed"] == ["raw/src/a.parquet"]
    assert report["new_tag"] == second.tag == "d/raw/i1+2"
    assert v.resolve("d/raw/i1")["data_state_id"] == first.data_state_id
    v.restore("d/raw/i1", tmp_path / "old")
    assert (tmp_path / "old/raw/src/a.parquet").read_bytes() == original
    third = v.snapshot("d/raw/i1", message="m")  # a retry: the +2 state stands, no +3
    assert (third.tag, third.data_state_id) == ("d/raw/i1+2", second.data_state_id)
    assert third.reproduction["status"] == "different"
    assert sorted(_tags(repo.root)) == ["d/raw/i1", "d/raw/i1+2"]


def test_compare_names_removed_files(repo: DataRepository) -> None:
    v = Versioner(repo.root)
    v.snapshot("t/1", message="m")
    repo.remove("raw", "src/a.parquet", reason="test")
    v.snapshot("t/2", message="m")
    report = v.compare("t/1")
    assert report["status"] == "different" and report["removed"] == ["raw/src/a.parquet"]


# -- lookups -------------------------------------------------------------------------------------


def test_resolve_by_id_tag_commit_latest_and_date(repo: DataRepository) -> None:
    v = Versioner(repo.root)
    first = v.snapshot("t/1", message="m")
    repo.publish_frame("raw", "src/b.parquet", pd.DataFrame({"x": [1]}))
    second = v.snapshot("t/2", message="m")
    assert v.resolve(first.data_state_id)["tag"] == "t/1"
    assert v.resolve("t/2")["data_state_id"] == second.data_state_id
    assert v.resolve(first.commit[:10])["tag"] == "t/1"
    assert v.resolve("latest")["tag"] == "t/2"
    taken = state_id.state_time(v.states()[-1])
    assert v.resolve(taken.isoformat(), dates="snapshot")["tag"] == "t/2"
    assert v.resolve((taken - timedelta(microseconds=1)).isoformat(), dates="snapshot")["tag"] == "t/1"
    assert v.resolve(taken.strftime("%Y-%m-%d"), dates="snapshot")["tag"] == "t/2", "a bare date: its end"
    with pytest.raises(RepositoryError, match="no data state snapshotted at or before"):
        v.resolve((taken - timedelta(days=2)).strftime("%Y-%m-%d"), dates="snapshot")
    with pytest.raises(RepositoryError, match="is not an ISO date or date-time"):
        v.resolve("2026-13-45")
    with pytest.raises(ParamError, match="dates='wall'"):
        v.resolve("latest", dates="wall")


def test_a_date_names_the_data_s_date_not_the_snapshot_s(repo: DataRepository) -> None:
    """Days snapshotted out of order (a backfill of past days after today's run): a date finds the
    state of the data's interval, whenever it was taken; the snapshot time is asked for by name."""
    v = Versioner(repo.root)

    def day(key: str, rows: int) -> Any:
        repo.publish_frame("raw", f"src/{key}.parquet", pd.DataFrame({"x": range(rows)}))
        start = datetime.strptime(key, "%Y%m%d").replace(tzinfo=UTC)
        return v.snapshot(f"d/validated/{(start + timedelta(days=1)):%Y%m%dT%H%M%SZ}", message=key,
                          run={"interval_start": start.isoformat(),
                               "interval_end": (start + timedelta(days=1)).isoformat()})

    today = day("20261201", 1)            # the scheduled run of 2026-12-01, interval [12-01, 12-02)
    past = [day("20261108", 2), day("20261109", 3)]  # then a backfill of two past days
    assert v.resolve("2026-11-08")["data_state_id"] == past[0].data_state_id
    assert v.resolve("2026-11-09")["data_state_id"] == past[1].data_state_id
    assert v.resolve("2026-11-20")["data_state_id"] == past[1].data_state_id  # no state of later data
    assert v.resolve("2026-11-09T00:00:00Z")["data_state_id"] == past[0].data_state_id  # [11-08, 11-09) ends
    assert v.resolve("2026-12-01")["data_state_id"] == today.data_state_id
    with pytest.raises(RepositoryError, match="interval ends at or before 2026-11-08T00:00:00"):
        v.resolve("2026-11-07")
    # By snapshot time, the backfill's states are the newest.
    assert v.resolve("2099-01-01", dates="snapshot")["data_state_id"] == past[1].data_state_id
    # A state without run interval (the command line's) dates by its tag's interval key.
    cli = v.snapshot("d/validated/20261203T000000Z", message="cli")
    assert v.resolve("2026-12-02")["tag"] == cli.tag


def test_unknown_state(repo: DataRepository) -> None:
    with pytest.raises(RepositoryError, match="no data state 'ds-nope'"):
        Versioner(repo.root).resolve("ds-nope")


def test_tag_name_is_a_valid_ref() -> None:
    assert tag_name("my dag", "validated", "2026-10-31T00:00:00+00:00") == "my-dag/validated/2026-10-31T00-00-00+00-00"
    for parts in (("a..b", "s~^:", "x"), (".hidden", "stage.lock", "t."), ("d", "s", "2026-10-31T00:00:00Z")):
        subprocess.run(["git", "check-ref-format", f"refs/tags/{tag_name(*parts)}"], check=True)


# -- restores ------------------------------------------------------------------------------------


def test_restore_by_id_and_date_verifies_hashes(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root, remote=str(tmp_path / "remote"))
    first = v.snapshot("t/1", message="m")
    original = (repo.root / "raw" / "src" / "a.parquet").read_bytes()
    repo.publish_frame("raw", "src/a.parquet", pd.DataFrame({"x": [42]}))
    v.snapshot("t/2", message="m")
    restored = v.restore(first.data_state_id, tmp_path / "restored")
    assert restored["files_verified"] >= 1 and restored["restored_from"] == "cache"
    assert (tmp_path / "restored" / "raw" / "src" / "a.parquet").read_bytes() == original
    restored_inode = (tmp_path / "restored/raw/src/a.parquet").stat().st_ino
    md5 = cache.md5_file(tmp_path / "restored/raw/src/a.parquet")
    assert restored_inode != (repo.root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).stat().st_ino, \
        "a restored workspace must not share inodes with the cache"
    by_date = v.resolve(v.states()[-1]["date"])
    assert by_date["tag"] == "t/2"


def test_restore_from_remote_when_cache_is_gone(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root, remote=str(tmp_path / "remote"))
    snap = v.snapshot("t/1", message="m")
    moved = tmp_path / "elsewhere"
    shutil.copytree(repo.root, moved)
    shutil.rmtree(moved / ".dvc" / "cache")
    restored = Versioner(moved).restore(snap.data_state_id, tmp_path / "restored")
    assert restored["files_verified"] >= 1 and restored["restored_from"] == "remote"


def test_failed_restore_leaves_nothing_behind(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root)
    snap = v.snapshot("t/1", message="m")
    shutil.rmtree(repo.root / ".dvc" / "cache" / "files")  # no cache, no remote
    with pytest.raises(RepositoryError, match="cannot restore t/1"):
        v.restore(snap.data_state_id, tmp_path / "out" / "restored")
    assert not (tmp_path / "out" / "restored").exists()
    assert list((tmp_path / "out").iterdir()) == [], "the temporary restore folder was not removed"


def test_ensure_restored_verifies_an_existing_workspace(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root)
    snap = v.snapshot("t/1", message="m")
    first = v.ensure_restored(snap.data_state_id, tmp_path / "ws")
    again = v.ensure_restored(snap.data_state_id, tmp_path / "ws")
    assert (first["reused"], again["reused"]) == (False, True)
    assert again["files_verified"] == first["files_verified"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    with pytest.raises(RepositoryError, match="not empty and does not hold"):
        v.ensure_restored(snap.data_state_id, other)


def test_restore_detects_tampering(repo: DataRepository, tmp_path: Path) -> None:
    v = Versioner(repo.root)
    v.snapshot("t/1", message="m")
    target = repo.root / "raw" / "src" / "a.parquet"
    target.unlink()  # DVC may have linked it from the cache: replace, never edit in place
    target.write_bytes(b"tampered")
    with pytest.raises(RepositoryError, match="does not match its recorded hash"):
        verify_tree(repo.root)


# -- concurrency and faults ----------------------------------------------------------------------


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


_CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    sys.path[:0] = [{include!r}]
    from datacentric.versioning import cache
    from datacentric.versioning import versioner as versioning
    root, tag, where = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if where.startswith("store:"):
        limit, calls = int(where.split(":")[1]), []
        original = cache.ObjectStore.add_file
        def dying(self, path):
            calls.append(path)
            if len(calls) > limit:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, path)
        cache.ObjectStore.add_file = dying
    if where == "before_tag":
        original_commit = versioning.Versioner._commit
        def commit_then_die(self, message):
            original_commit(self, message)
            os.kill(os.getpid(), signal.SIGKILL)
        versioning.Versioner._commit = commit_then_die
    if where == "inside_git_add":
        import subprocess
        original_git = versioning.Versioner._git
        def git_then_die(self, *args):
            if args != ("add", "--all"):
                return original_git(self, *args)
            git = subprocess.Popen(["git", *args], cwd=self.root)
            while not (self.root / ".git" / "index.lock").exists():
                if git.poll() is not None:
                    sys.exit(3)  # git finished before the lock was seen: the test cannot kill inside it
            os.killpg(0, signal.SIGKILL)  # the task and its git child, as a worker kills a task
        versioning.Versioner._git = git_then_die
    if where == "start_gate":
        while not (root.parent / "go").exists():
            time.sleep(0.005)
    versioning.Versioner(root, remote=sys.argv[4] if len(sys.argv) > 4 else None).snapshot(
        tag, message=tag, pins={{"by": tag}})
    print("done", tag)
""")


def _child(tmp_path: Path, root: Path, tag: str, where: str, remote: str | None = None) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(include=str(PROJECT / "include")))
    args = [sys.executable, str(script), str(root), tag, where, *([remote] if remote else [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait(child: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    try:
        return child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        raise


def _many_files(root: Path, n: int) -> None:
    for i in range(n):
        _write(root, f"raw/s/p{i % 10}/f{i}.bin", os.urandom(256) + str(i).encode())


def _assert_consistent(root: Path, tag: str, expected_files: int, tmp_path: Path) -> None:
    """git is sound and clean, DVC agrees with the workspace, and the tag restores in full."""
    from dvc.repo import Repo

    subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=root, check=True, capture_output=True)
    assert _git(root, "status", "--porcelain") == ""
    assert not (root / ".git/index.lock").exists()
    with Repo(str(root)) as dvc_repo:
        assert dvc_repo.status() == {}
    assert verify_tree(root) == expected_files
    restored = Versioner(root).restore(tag, tmp_path / f"restored-{tag.replace('/', '-')}")
    assert restored["files_verified"] == expected_files
    assert sum(1 for p in (root / "raw").rglob("*") if p.is_file()) == expected_files


def test_two_processes_snapshot_in_turn(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _many_files(root, 200)
    Versioner(root).init()
    children = [_child(tmp_path, root, tag, "start_gate") for tag in ("run/a", "run/b")]
    (tmp_path / "go").touch()
    outputs = [_wait(child) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert sorted(_tags(root)) == ["run/a", "run/b"]
    # One commit with the data; the second snapshot found nothing new and tagged the same commit.
    assert _commits(root) == 1
    assert _git(root, "rev-list", "-n1", "run/a") == _git(root, "rev-list", "-n1", "run/b")
    _assert_consistent(root, "run/b", 200, tmp_path)


@pytest.mark.parametrize("where", ["store:60", "before_tag"])
def test_snapshot_killed_midway_leaves_a_consistent_repository(tmp_path: Path, where: str) -> None:
    root = tmp_path / "repo"
    _many_files(root, 150)
    remote = str(tmp_path / "remote")
    child = _child(tmp_path, root, "d/s/i1", where, remote)
    _wait(child)
    assert child.returncode == -signal.SIGKILL
    snap = Versioner(root, remote=remote).snapshot("d/s/i1", message="retry", pins={"by": "d/s/i1"})
    assert snap.tag == "d/s/i1" and _tags(root) == ["d/s/i1"]
    _assert_consistent(root, "d/s/i1", 150, tmp_path)
    shutil.rmtree(root / ".dvc" / "cache")
    assert Versioner(root).restore("d/s/i1", tmp_path / "from-remote")["restored_from"] == "remote"


def test_snapshot_killed_inside_git(tmp_path: Path) -> None:
    """The task and git are killed -9 while git holds .git/index.lock (a large file makes `git add`
    take long enough to be caught): the retry clears the stale lock and completes."""
    root = tmp_path / "repo"
    _many_files(root, 20)
    (root / "big.bin").write_bytes(os.urandom(48 << 20))
    child = _child(tmp_path, root, "d/s/i1", "inside_git_add")
    _wait(child)
    assert child.returncode == -signal.SIGKILL
    assert (root / ".git" / "index.lock").exists(), "the kill did not happen inside git"
    (root / "big.bin").unlink()
    Versioner(root).snapshot("d/s/i1", message="retry", pins={"by": "d/s/i1"})
    _assert_consistent(root, "d/s/i1", 20, tmp_path)


def test_snapshot_killed_at_random_moments(tmp_path: Path) -> None:
    """kill -9 at several moments of real snapshots (hashing, linking, writing .dvc files, git);
    each retry completes and leaves the repository consistent."""
    root = tmp_path / "repo"
    expected = 0
    killed: list[bool] = []
    for round_number, delay in enumerate((0.2, 0.6, 1.2)):
        for i in range(600):
            _write(root, f"raw/s/r{round_number}/p{i % 6}/f{i}.bin", os.urandom(512) + str(i).encode())
        expected += 600
        tag = f"d/s/round{round_number}"
        child = _child(tmp_path, root, tag, "plain")
        time.sleep(delay)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        _wait(child)
        killed.append(child.returncode == -signal.SIGKILL)
        Versioner(root).snapshot(tag, message="retry", pins={"by": tag})
        _assert_consistent(root, tag, expected, tmp_path)
    assert any(killed), "every snapshot finished before its kill: the test killed nothing"


def test_stale_locks_of_killed_processes_are_cleared(repo: DataRepository) -> None:
    v = Versioner(repo.root)
    v.snapshot("t/1", message="m")
    (repo.root / ".git/index.lock").write_text("")
    (repo.root / ".git/refs/tags/t").mkdir(exist_ok=True)
    (repo.root / ".git/refs/tags/t/2.lock").write_text("")
    (repo.root / ".dvc/tmp/rwlock").write_text(json.dumps({"write": {str(repo.root / "raw"): {
        "pid": 2 ** 22 + 11, "cmd": "dvc add raw"}}}))
    repo.publish_frame("raw", "src/c.parquet", pd.DataFrame({"x": [3]}))
    snap = v.snapshot("t/2", message="m")
    assert snap.tag == "t/2" and snap.changed
