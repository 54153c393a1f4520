"""Retention: expire old data states by a policy and collect the DVC objects no kept state references.
Design note: docs/explanation/data-state-ids.md (Retention); usage: docs/how-to/expire-data-states.md."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datacentric.errors import RepositoryError
from datacentric.versioning.state_id import state_time
from datacentric.versioning.versioner import REMOTE_NAME, Versioner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """Which data states to keep; a state no rule keeps expires. The newest state is always kept.

    :param keep_last: keep the newest N states of each tag family (<dag>/<stage>); None: no limit
    :param keep_days: keep every state snapshotted within this many days; None: no limit
    :param keep: data state ids, tags or tag patterns (fnmatch) that are always kept
    """

    keep_last: int | None = None
    keep_days: float | None = None
    keep: tuple[str, ...] = ()

    def expired(self, states: list[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
        """The states this policy lets go, oldest first."""
        if self.keep_last is None and self.keep_days is None:
            return []
        if self.keep_last is not None and self.keep_last < 1:
            raise RepositoryError(f"keep_last must be at least 1, got {self.keep_last}")
        now = now or datetime.now(UTC)
        kept: set[str] = set()
        families: dict[str, list[dict[str, Any]]] = {}
        for state in states:
            families.setdefault(family_of(state["tag"]), []).append(state)
        if self.keep_last is not None:
            for members in families.values():
                kept.update(s["tag"] for s in sorted(members, key=state_time)[-self.keep_last:])
        if self.keep_days is not None:
            horizon = now - timedelta(days=self.keep_days)
            kept.update(s["tag"] for s in states if state_time(s) >= horizon)
        for state in states:
            if any(pattern in (state["data_state_id"], state["tag"]) or fnmatch.fnmatchcase(state["tag"], pattern)
                   for pattern in self.keep):
                kept.add(state["tag"])
        if states:
            kept.add(max(states, key=state_time)["tag"])
        return [s for s in states if s["tag"] not in kept]


@dataclass
class RetentionReport:
    """What a retention run expired and collected (or would, when not applied)."""

    applied: bool
    expired: list[dict[str, Any]] = field(default_factory=list)
    states_kept: int = 0
    objects_referenced: int = 0
    cache_objects_deleted: int = 0
    cache_bytes_freed: int = 0
    remote_objects_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def family_of(tag: str) -> str:
    """The family of a tag: <dag>/<stage>, without the interval and any +N suffix."""
    parts = tag.split("/")
    return "/".join(parts[:-1]) if len(parts) > 1 else tag.split("+", 1)[0]


def collect(
    versioner: Versioner,
    policy: RetentionPolicy | None = None,
    *,
    apply: bool = False,
    remote: bool = True,
    now: datetime | None = None,
) -> RetentionReport:
    """Expire states by `policy` and delete the objects nothing kept references (see module doc)."""
    policy = policy or RetentionPolicy()
    root = versioner.root
    if not (root / ".git").exists() or not (root / ".dvc").exists():
        raise RepositoryError(f"{root} is not a data repository (no git + DVC); nothing to collect")
    with versioner.lock():
        states = versioner.states()
        expired = policy.expired(states, now)
        expired_tags = {s["tag"] for s in expired}
        kept = [s for s in states if s["tag"] not in expired_tags]
        commits = {s["commit"] for s in kept}
        head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
        if head:
            commits.add(head)
        referenced = referenced_objects(versioner, sorted(commits))
        report = RetentionReport(applied=apply, expired=[_brief(s) for s in expired], states_kept=len(kept),
                                 objects_referenced=len(referenced))
        cache_garbage = [(oid, path) for oid, path in _cache_objects(versioner.cache_dir) if oid not in referenced]
        report.cache_objects_deleted = len(cache_garbage)
        report.cache_bytes_freed = sum(_size(path) for _, path in cache_garbage)
        with contextlib.ExitStack() as stack:
            remote_garbage: list[str] = []
            odb = stack.enter_context(_remote_odb(versioner)) if remote and versioner.remote else None
            if odb is not None:
                remote_garbage = [oid for oid in odb.all() if oid not in referenced]
                report.remote_objects_deleted = len(remote_garbage)
            if not apply:
                return report
            for tag in sorted(expired_tags):
                _git(root, "tag", "-d", tag)
            for _, path in cache_garbage:
                path.unlink(missing_ok=True)
            if odb is not None:
                for oid in remote_garbage:
                    odb.delete(oid)
        # The push marker may name zones whose objects just left the remote: make the next push check.
        (root / ".dvc" / "tmp" / "datacentric" / "pushed.json").unlink(missing_ok=True)
        _append_log(root, report)
        log.info("retention on %s: %d state(s) expired, %d cache and %d remote object(s) deleted", root,
                 len(expired), len(cache_garbage), len(remote_garbage))
        return report


def referenced_objects(versioner: Versioner, commits: list[str]) -> set[str]:
    """The md5 of every object (files and .dir listings) the commits and the working copy reference.

    Raises RepositoryError when a directory listing cannot be read: its files cannot be known, so
    collecting anything could delete what a state references."""
    root = versioner.root
    referenced: set[str] = set()
    listings: dict[str, dict[str, str]] = {}

    def add(md5: str, where: str) -> None:
        referenced.add(md5)
        if md5.endswith(".dir"):
            if md5 not in listings:
                try:
                    listings[md5] = versioner.dir_entries(md5)
                except RepositoryError as exc:
                    raise RepositoryError(f"cannot tell which files {where} references ({exc}); "
                                          "nothing was deleted") from None
            referenced.update(listings[md5].values())

    for commit in commits:
        for path, text in _dvc_files_at(root, commit):
            for md5 in _md5s_in(text, f"{commit[:12]}:{path}"):
                add(md5, f"{commit[:12]}:{path}")
    for dvc_file in [*root.glob("*.dvc"), root / "dvc.lock"]:
        if dvc_file.is_file():
            for md5 in _md5s_in(dvc_file.read_text(), dvc_file):
                add(md5, str(dvc_file))
    referenced.update(versioner.indexed_objects())
    return referenced


def _dvc_files_at(root: Path, commit: str) -> list[tuple[str, str]]:
    names = [n for n in _git(root, "ls-tree", "-r", "--name-only", commit).splitlines()
             if n.endswith(".dvc") or n == "dvc.lock" or n.endswith("/dvc.lock")]
    if not names:
        return []
    blobs = Versioner(root).read_blobs(commit, names)
    return [(name, (blobs.get(name) or b"").decode()) for name in names]


def _md5s_in(text: str, where: Any) -> list[str]:
    """The md5 of every output a .dvc file or dvc.lock records."""
    import yaml

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RepositoryError(f"{where}: not readable YAML ({exc}); nothing was deleted") from None
    outs = list(doc.get("outs") or [])
    for stage in (doc.get("stages") or {}).values():
        outs.extend((stage or {}).get("outs") or [])
        outs.extend((stage or {}).get("deps") or [])
    return [str(out["md5"]) for out in outs if isinstance(out, dict) and out.get("md5")]


def _cache_objects(cache_dir: Path) -> list[tuple[str, Path]]:
    base = cache_dir / "files" / "md5"
    if not base.is_dir():
        return []
    found = []
    for prefix in os.scandir(base):
        if not prefix.is_dir() or len(prefix.name) != 2:
            continue
        for entry in os.scandir(prefix.path):
            if entry.is_file() and not entry.name.endswith(".tmp"):
                found.append((prefix.name + entry.name, Path(entry.path)))
    return found


@contextlib.contextmanager
def _remote_odb(versioner: Versioner) -> Iterator[Any]:
    from dvc.repo import Repo

    versioner.init()
    with Repo(str(versioner.root)) as repo:
        yield repo.cloud.get_remote_odb(REMOTE_NAME)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _brief(state: dict[str, Any]) -> dict[str, Any]:
    return {"tag": state["tag"], "data_state_id": state["data_state_id"], "date": state["date"]}


def _append_log(root: Path, report: RetentionReport) -> None:
    """A local record of what retention deleted (tags are gone from git afterwards)."""
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **report.as_dict()}
    with (root / ".dvc" / "tmp" / "datacentric" / "retention.jsonl").open("a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def _git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    if check and proc.returncode != 0:
        raise RepositoryError(f"git {' '.join(args[:2])} failed in {root}: {proc.stderr.strip()}")
    return proc.stdout


__all__ = ["RetentionPolicy", "RetentionReport", "collect", "family_of", "referenced_objects"]
