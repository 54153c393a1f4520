"""Snapshots of the data repository with DVC and git, and restores of past data states.

The data repository is a git + DVC repository of its own (never the code repository). A snapshot
tracks each zone with `dvc add`, commits the .dvc files and the change log to git, tags the commit
and pushes the data to the DVC remote. One id, the data state id, names the snapshot: a hash of the
committed tree (which pins every zone's content, labels and features included), the manifest's
sha256 and the code revision, so identical inputs give the identical id.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from datacentric.errors import RepositoryError
from datacentric.repository import ZONES, sha256_file

log = logging.getLogger(__name__)

TRACKED_ZONES = tuple(zone for zone in ZONES)
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "datacentric",
    "GIT_AUTHOR_EMAIL": "datacentric@localhost",
    "GIT_COMMITTER_NAME": "datacentric",
    "GIT_COMMITTER_EMAIL": "datacentric@localhost",
}
_GITIGNORE = ".publish.lock\n.snapshot.lock\n*.tmp\n"


@dataclass(frozen=True)
class Snapshot:
    data_state_id: str
    tag: str
    commit: str
    tree: str
    changed: bool
    pins: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tag_name(dag_id: str, stage: str, interval_key: str) -> str:
    """A git tag for a stage of a run: <dag>/<stage>/<interval>, sanitised to git's ref rules."""
    raw = f"{dag_id}/{stage}/{interval_key}"
    clean = re.sub(r"[^A-Za-z0-9._/+-]", "-", raw)
    return re.sub(r"/+", "/", clean).strip("/")


def code_revision(path: Path) -> str:
    """The git revision of the code, with a -dirty suffix for uncommitted changes; 'unknown' outside git."""
    try:
        rev = _run(["git", "rev-parse", "HEAD"], cwd=path).strip()
        dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path).strip()
    except (RepositoryError, FileNotFoundError):
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


class Versioner:
    """Snapshots and restores one data repository."""

    def __init__(self, root: Path | str, remote: str | None = None) -> None:
        self.root = Path(root)
        self.remote = remote

    # -- setup ---------------------------------------------------------------------------------

    def init(self) -> None:
        """Make the repository a git + DVC repository with its remote; safe to call every time."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").exists():
            self._git("init", "--quiet", "--initial-branch=main")
        if not (self.root / ".dvc").exists():
            from dvc.repo import Repo

            with Repo.init(str(self.root), subdir=False) as repo, repo.config.edit() as conf:
                # Stage .dvc files in git as DVC writes them, instead of printing hints to do it.
                conf.setdefault("core", {})["autostage"] = True
            self._git("add", ".dvc")
        gitignore = self.root / ".gitignore"
        if not gitignore.exists() or _GITIGNORE not in gitignore.read_text():
            with gitignore.open("a") as handle:
                handle.write(_GITIGNORE)
        if self.remote:
            self._dvc_config_remote(self.remote)

    def _dvc_config_remote(self, url: str) -> None:
        from dvc.repo import Repo

        with Repo(str(self.root)) as repo, repo.config.edit() as conf:
            conf.setdefault("remote", {})["storage"] = {"url": url}
            conf.setdefault("core", {})["remote"] = "storage"

    # -- snapshot ------------------------------------------------------------------------------

    def snapshot(self, tag: str, *, message: str, pins: dict[str, Any] | None = None, push: bool = True) -> Snapshot:
        """Commit the zones' current content and tag it. Idempotent: an unchanged repository gets no
        new commit, and a tag that already names identical content is returned as it is."""
        from dvc.repo import Repo

        with self._lock():
            self.init()
            zones = [z for z in TRACKED_ZONES if any(p.is_file() for p in (self.root / z).rglob("*"))]
            with Repo(str(self.root)) as repo:
                if zones:
                    repo.add([str((self.root / z).resolve()) for z in zones])
                if push and self.remote:
                    repo.push()
            self._git("add", "--all")
            changed = bool(self._git("status", "--porcelain").strip())
            if changed or not self._has_head():
                self._git("commit", "--quiet", "--allow-empty", "-m", message)
            commit = self._git("rev-parse", "HEAD").strip()
            tree = self._git("rev-parse", "HEAD^{tree}").strip()
            all_pins = {"data_tree": tree, **(pins or {})}
            state_id = data_state_id(all_pins)
            existing = self._tag_commit(tag)
            final_tag = tag
            if existing is not None:
                existing_tree = self._git("rev-parse", f"{existing}^{{tree}}").strip()
                if existing_tree == tree or not changed:
                    # Nothing new since this interval was snapshotted (a retry, or a re-run whose
                    # later stages are already committed): the existing snapshot stands.
                    recorded = self.resolve(tag)
                    pins_recorded = {k: v for k, v in recorded.items() if k not in ("tag", "commit", "date", "data_state_id")}
                    return Snapshot(recorded["data_state_id"], tag, existing, existing_tree, False, pins_recorded)
                # Same interval, different content (e.g. late data arrived): keep the old tag untouched.
                final_tag = self._next_free_tag(tag)
                log.warning("tag %s names other content; this snapshot is tagged %s", tag, final_tag)
            record = {"data_state_id": state_id, **all_pins}
            self._git("tag", "-a", final_tag, "-m", json.dumps(record, sort_keys=True))
            return Snapshot(state_id, final_tag, commit, tree, changed, all_pins)

    # -- lookups -------------------------------------------------------------------------------

    def states(self) -> list[dict[str, Any]]:
        """Every tagged data state, oldest first: tag, commit, date and its pins."""
        if not (self.root / ".git").exists():
            return []
        out = self._git(
            "for-each-ref", "--sort=creatordate", "refs/tags",
            "--format=%(refname:short)%00%(*objectname)%00%(creatordate:iso-strict)%00%(contents)%01",
        )
        states = []
        for entry in out.split("\x01"):
            entry = entry.strip("\n")
            if not entry:
                continue
            name, commit, date, contents = entry.split("\x00", 3)
            try:
                record = json.loads(contents.strip())
            except json.JSONDecodeError:
                continue
            states.append({"tag": name, "commit": commit, "date": date, **record})
        return states

    def resolve(self, ref: str) -> dict[str, Any]:
        """A data state id, a tag, or an ISO date/time (the last state at or before it)."""
        states = self.states()
        for state in reversed(states):
            if ref in (state["data_state_id"], state["tag"]):
                return state
        if re.match(r"^\d{4}-\d{2}-\d{2}", ref):
            from datetime import datetime

            when = datetime.fromisoformat(ref)
            for state in reversed(states):
                date = datetime.fromisoformat(state["date"])
                if when.tzinfo is None:
                    date = date.replace(tzinfo=None)
                if date <= when:
                    return state
        raise RepositoryError(f"no data state {ref!r} in {self.root} (known: {len(states)} tagged states)")

    def restore(self, ref: str, dest: Path | str) -> dict[str, Any]:
        """Materialise the data state `ref` into the empty folder `dest` and verify every file's hash."""
        from dvc.repo import Repo

        state = self.resolve(ref)
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise RepositoryError(f"restore target {dest} is not empty")
        _run(["git", "clone", "--quiet", "--no-checkout", str(self.root.resolve()), str(dest)])
        _run(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", state["commit"]], cwd=dest)
        # Read from the source repository's cache when it is on this machine (no copy over the
        # network), else pull from the DVC remote.
        local_cache = self.root / ".dvc" / "cache"
        if local_cache.exists():
            with Repo(str(dest)) as repo, repo.config.edit("local") as conf:
                conf.setdefault("cache", {})["dir"] = str(local_cache.resolve())
            with Repo(str(dest)) as repo:
                repo.checkout(force=True)
        else:
            with Repo(str(dest)) as repo:
                repo.pull(force=True)
        verified = verify_tree(dest)
        return {**state, "restored_to": str(dest), "files_verified": verified}

    # -- internals -----------------------------------------------------------------------------

    def _has_head(self) -> bool:
        try:
            self._git("rev-parse", "--verify", "--quiet", "HEAD")
            return True
        except RepositoryError:
            return False

    def _tag_commit(self, tag: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}").strip()
        except RepositoryError:
            return None

    def _next_free_tag(self, tag: str) -> str:
        n = 2
        while self._tag_commit(f"{tag}+{n}") is not None:
            n += 1
        return f"{tag}+{n}"

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two runs snapshotting at once take turns: the second waits, then commits on top.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".snapshot.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _git(self, *args: str) -> str:
        return _run(["git", *args], cwd=self.root)


def data_state_id(pins: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()
    return f"ds-{digest[:16]}"


def verify_tree(root: Path) -> int:
    """Check every DVC-tracked file against the md5 DVC recorded; returns how many were checked."""
    from dvc.repo import Repo

    checked = 0
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            for out in stage.outs:
                out_path = Path(out.fs_path)
                if out.hash_info.isdir:
                    entries = out.get_obj() if hasattr(out, "get_obj") else None
                    if entries is None:
                        continue
                    for key, _, oid in entries:
                        file_path = out_path.joinpath(*key)
                        if _md5(file_path) != oid.value:
                            raise RepositoryError(f"restored file {file_path} does not match its recorded hash")
                        checked += 1
                elif out.hash_info.value:
                    if _md5(out_path) != out.hash_info.value:
                        raise RepositoryError(f"restored file {out_path} does not match its recorded hash")
                    checked += 1
    return checked


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RepositoryError(f"{' '.join(cmd[:3])} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


__all__ = ["Snapshot", "Versioner", "code_revision", "data_state_id", "sha256_file", "tag_name", "verify_tree"]
