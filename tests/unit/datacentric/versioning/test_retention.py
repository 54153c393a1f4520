from __future__ import annotations

import os
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from datacentric.errors import RepositoryError
from datacentric.versioning.cache import md5_file as _md5
from datacentric.versioning.retention import RetentionPolicy, collect, family_of, referenced_objects
from datacentric.versioning.versioner import Versioner


def _write(root: Path, relpath: str, data: bytes) -> None:
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.x.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _objects(root: Path) -> set[str]:
    base = root / ".dvc" / "cache" / "files" / "md5"
    return {p.parent.name + p.name for p in base.glob("*/*") if p.is_file()}


def _remote_objects(remote: Path) -> set[str]:
    return {p.parent.name + p.name for p in (remote / "files" / "md5").glob("*/*") if p.is_file()}


def _oid(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()


@pytest.fixture
def states(tmp_path: Path) -> tuple[Versioner, dict[str, bytes]]:
    """Three states of one family: A+B, then A+C (B replaced by C), then A+C+D; A is shared by all."""
    root, remote = tmp_path / "repo", tmp_path / "remote"
    v = Versioner(root, remote=str(remote))
    data = {name: os.urandom(300) for name in "ABCD"}
    _write(root, "raw/s/a.bin", data["A"])
    _write(root, "raw/s/b.bin", data["B"])
    v.snapshot("dag/raw/1", message="1")
    (root / "raw/s/b.bin").unlink()
    _write(root, "raw/s/c.bin", data["C"])
    v.snapshot("dag/raw/2", message="2")
    _write(root, "raw/s/d.bin", data["D"])
    v.snapshot("dag/raw/3", message="3")
    return v, data


def test_family_of_tags() -> None:
    assert family_of("datacentric_pipeline/final/20261031T000000Z") == "datacentric_pipeline/final"
    assert family_of("datacentric_pipeline/final/20261031T000000Z+2") == "datacentric_pipeline/final"


def test_default_policy_keeps_every_state_and_collects_only_garbage(states: tuple[Versioner, dict]) -> None:
    v, data = states
    root = v.root
    garbage = root / ".dvc/cache/files/md5/ff/" / ("0" * 30)  # e.g. left by a killed snapshot
    garbage.parent.mkdir(parents=True, exist_ok=True)
    garbage.write_bytes(b"orphan")
    before = _objects(root)
    dry = collect(v)
    assert (dry.applied, dry.expired, dry.cache_objects_deleted) == (False, [], 1)
    assert _objects(root) == before, "a dry run deleted something"
    report = collect(v, apply=True)
    assert report.cache_objects_deleted == 1 and report.cache_bytes_freed == len(b"orphan")
    assert _objects(root) == before - {"ff" + "0" * 30}
    for tag in ("dag/raw/1", "dag/raw/2", "dag/raw/3"):
        shutil.rmtree(root.parent / "r", ignore_errors=True)
        assert v.restore(tag, root.parent / "r")["files_verified"] >= 2


def test_policy_expires_old_states_but_keeps_what_kept_states_share(states: tuple[Versioner, dict],
                                                                     tmp_path: Path) -> None:
    v, data = states
    root, remote = v.root, tmp_path / "remote"
    report = collect(v, RetentionPolicy(keep_last=1), apply=True)
    assert [s["tag"] for s in report.expired] == ["dag/raw/1", "dag/raw/2"]
    assert subprocess.run(["git", "tag"], cwd=root, capture_output=True, text=True).stdout.split() == ["dag/raw/3"]
    assert _oid(data["B"]) not in _objects(root), "B was referenced by expired states only"
    assert _oid(data["B"]) not in _remote_objects(remote)
    for name in "ACD":  # referenced by the kept state (A and C also by expired ones)
        assert _oid(data[name]) in _objects(root) and _oid(data[name]) in _remote_objects(remote)
    shutil.rmtree(root / ".dvc" / "cache")
    restored = Versioner(root).restore("dag/raw/3", tmp_path / "restored")
    assert restored["restored_from"] == "remote" and restored["files_verified"] == 3


def test_keep_rules_and_newest_state(states: tuple[Versioner, dict]) -> None:
    v, _ = states
    all_states = v.states()
    first = all_states[0]
    policy = RetentionPolicy(keep_last=1, keep=(first["data_state_id"],))
    assert [s["tag"] for s in policy.expired(all_states)] == ["dag/raw/2"]
    assert RetentionPolicy(keep_last=1, keep=("dag/raw/*",)).expired(all_states) == []
    later = datetime.now(UTC) + timedelta(days=30)
    assert [s["tag"] for s in RetentionPolicy(keep_days=7).expired(all_states, now=later)] == ["dag/raw/1", "dag/raw/2"]
    assert RetentionPolicy(keep_days=7).expired(all_states) == []
    with pytest.raises(RepositoryError, match="keep_last must be at least 1"):
        RetentionPolicy(keep_last=0).expired(all_states)


def test_nothing_is_deleted_when_a_kept_listing_is_unreadable(states: tuple[Versioner, dict],
                                                             tmp_path: Path) -> None:
    v, _ = states
    root = v.root
    listing = v.zone_contents(v.resolve("dag/raw/1")["commit"])["raw"].md5
    (root / ".dvc/cache/files/md5" / listing[:2] / listing[2:]).unlink()
    shutil.rmtree(tmp_path / "remote")
    before = _objects(root)
    with pytest.raises(RepositoryError, match="nothing was deleted"):
        collect(Versioner(root), apply=True)
    assert _objects(root) == before


def test_workspace_objects_of_an_unfinished_snapshot_are_kept(tmp_path: Path) -> None:
    """Objects a killed snapshot put in the cache for files still in the workspace stay: the next
    snapshot, which trusts its index, will name them."""
    root = tmp_path / "repo"
    v = Versioner(root)
    _write(root, "raw/s/a.bin", b"a")
    v.snapshot("t/1", message="m", push=False)
    _write(root, "raw/s/b.bin", b"bbb")
    v._commit_zones(rescan=False)  # cached and indexed, then the task died before committing
    subprocess.run(["git", "checkout", "--", "raw.dvc"], cwd=root, check=True)
    assert _md5(root / "raw/s/b.bin") in referenced_objects(v, [])
    collect(v, apply=True)
    v.snapshot("t/2", message="m", push=False)
    assert v.restore("t/2", tmp_path / "r")["files_verified"] == 2


def test_random_histories_never_lose_what_a_kept_tag_references(tmp_path: Path) -> None:
    """Random publishes, replacements, removals and snapshots in two tag families, then a random
    policy: every state left restores from the cache and verifies, and no object any remaining
    state references was deleted."""
    rng = random.Random(7)
    for trial in range(3):
        root = tmp_path / f"repo{trial}"
        v = Versioner(root)
        names = [f"raw/s/f{i}.bin" for i in range(8)] + [f"labels/t/l{i}.bin" for i in range(4)]
        for step in range(8):
            for name in rng.sample(names, 3):
                if (root / name).exists() and rng.random() < 0.3:
                    (root / name).unlink()
                else:
                    _write(root, name, rng.choice([b"shared", os.urandom(50)]))
            v.snapshot(f"dag/{rng.choice(['raw', 'labels'])}/{step}", message=str(step), push=False)
        remaining_before = {s["commit"] for s in v.states()}
        policy = RetentionPolicy(keep_last=rng.randint(1, 3))
        report = collect(v, policy, apply=True)
        kept = v.states()
        assert len(kept) == report.states_kept and {s["commit"] for s in kept} <= remaining_before
        needed = referenced_objects(v, [s["commit"] for s in kept])
        assert needed <= _objects(root)
        for state in kept:
            dest = tmp_path / f"restore-{trial}-{state['tag'].replace('/', '-')}"
            assert v.restore(state["tag"], dest)["files_verified"] >= 0
