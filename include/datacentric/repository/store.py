"""The data repository: zones of Parquet files published atomically, an append-only change log with
provenance, and an object store of every version. Design note: docs/explanation/data-repository.md;
layout: docs/reference/repository-layout.md."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from datacentric.atomic import fsync_dir, host_name, write_temporary
from datacentric.errors import RepositoryError
from datacentric.hashing import sha256_bytes, sha256_file
from datacentric.parquet import frame_to_parquet_bytes, table_to_parquet_bytes

log = logging.getLogger(__name__)

ZONES = ("raw", "validated", "quarantine", "labels", "features", "training_sets", "reports")
CHANGELOG = "changelog.jsonl"
OBJECTS = ".objects"
STATE = "state"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ChangeRecord:
    """One line of the change log."""

    op: str  # "add", "replace" or "remove"
    path: str  # relative to the repository root, POSIX separators
    sha256: str | None
    previous_sha256: str | None
    rows: int | None
    run_id: str | None
    at: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    path: str
    sha256: str
    rows: int | None
    changed: bool


@dataclass
class _Index:
    """What the change log says so far, kept up to date by reading only what was appended since."""

    offset: int = 0
    live: dict[str, ChangeRecord] = field(default_factory=dict)  # path -> its last add/replace
    origins: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # source -> origin -> marks


class DataRepository:
    """A folder of zones plus its change log. Safe for concurrent publishers on one machine."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._index = _Index()
        self._index_lock = threading.RLock()  # threads of one process reading and updating the index
        self._lock_owner: int | None = None  # the thread holding the publish lock through this object
        self._lock_depth = 0

    def init(self) -> DataRepository:
        for zone in ZONES:
            (self.root / zone).mkdir(parents=True, exist_ok=True)
        (self.root / STATE).mkdir(exist_ok=True)
        (self.root / CHANGELOG).touch(exist_ok=True)
        objects = self.root / OBJECTS
        if not objects.exists():
            objects.mkdir()
            self._adopt_existing_files()
        ignore = objects / ".gitignore"
        if not ignore.exists():
            # Content copies stay out of git; the snapshot's DVC zones carry the data.
            ignore.write_text("*\n")
        return self

    # -- paths ---------------------------------------------------------------------------------

    def path(self, zone: str, *parts: str) -> Path:
        """The absolute path of `parts` inside `zone`; refuses anything that would leave the zone."""
        if zone not in ZONES:
            raise RepositoryError(f"unknown zone {zone!r}; zones are {', '.join(ZONES)}")
        return self.root / zone / _inside(zone, parts)

    def state_path(self, manifest_name: str) -> Path:
        """Where the state file of a manifest lives: state/<name>.lock.yaml."""
        if not _NAME.match(manifest_name):
            raise RepositoryError(f"manifest name {manifest_name!r} must match {_NAME.pattern}")
        return self.root / STATE / f"{manifest_name}.lock.yaml"

    def object_path(self, sha256: str) -> Path:
        """Where the content with this sha256 is kept (it may not be there)."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
            raise RepositoryError(f"not a sha256: {sha256!r}")
        return self.root / OBJECTS / sha256[:2] / sha256

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    # -- publishing ----------------------------------------------------------------------------

    def publish_frame(
        self,
        zone: str,
        relpath: str,
        frame: pd.DataFrame,
        *,
        run_id: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Published:
        return self.publish_bytes(
            zone, relpath, frame_to_parquet_bytes(frame), rows=len(frame), run_id=run_id, provenance=provenance
        )

    def publish_table(
        self,
        zone: str,
        relpath: str,
        table: Any,
        *,
        run_id: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Published:
        """Publish an Arrow table as Parquet (the fast path of ingestion: no pandas in between)."""
        return self.publish_bytes(
            zone, relpath, table_to_parquet_bytes(table), rows=table.num_rows, run_id=run_id, provenance=provenance
        )

    def publish_bytes(
        self,
        zone: str,
        relpath: str,
        data: bytes | Any,
        *,
        rows: int | None = None,
        run_id: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Published:
        return self._publish(self.path(zone, relpath), data, rows=rows, run_id=run_id, provenance=provenance)

    def publish_state(self, manifest_name: str, text: str, *, run_id: str | None = None) -> Published:
        """Publish a manifest's state file; call with the lock held (see `locked`) to read-modify-write."""
        return self._publish(self.state_path(manifest_name), text.encode("utf-8"), rows=None, run_id=run_id,
                             provenance={"kind": "state", "manifest": manifest_name})

    def remove(self, zone: str, relpath: str, *, reason: str, run_id: str | None = None) -> bool:
        """Remove a file as a recorded operation (retention, deletion request). False if absent.

        Its content stays in the object store, so a recovery to an earlier time still has it."""
        target = self.path(zone, relpath)
        with self.locked():
            if not target.exists():
                return False
            relative = self.relative(target)
            known = self._index.live.get(relative)
            previous = known.sha256 if known is not None else sha256_file(target)
            self._keep_object(target, previous)
            target.unlink()
            self._append(
                ChangeRecord("remove", relative, None, previous, None, run_id, _now(),
                             {**(dict(known.provenance) if known else {}), "reason": reason})
            )
        return True

    # -- reading -------------------------------------------------------------------------------

    def files(self, zone: str, *parts: str, pattern: str = "*.parquet") -> list[Path]:
        base = self.path(zone, *parts)
        if not base.exists():
            return []
        return sorted(p for p in base.rglob(pattern) if p.is_file() and not p.name.startswith("."))

    def read_frame(self, zone: str, *parts: str) -> pd.DataFrame:
        """All Parquet files under `zone/parts` as one frame (sorted by path, so reads are stable)."""
        files = self.files(zone, *parts)
        if not files:
            raise RepositoryError(f"nothing in {zone}/{'/'.join(parts)} of repository {self.root}")
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

    def changelog(self) -> list[ChangeRecord]:
        """Every record of the change log, in the order they were written."""
        log_path = self.root / CHANGELOG
        if not log_path.exists():
            return []
        records, _ = _parse_log(log_path.read_bytes(), log_path, 0)
        return records

    def live(self) -> dict[str, ChangeRecord]:
        """Each file the change log says is in the repository now, with its last add/replace record."""
        self._refresh()
        with self._index_lock:
            return dict(self._index.live)

    def origin_marks(self, source: str) -> dict[str, dict[str, str]]:
        """origin URI -> {"sha256": checksum, "identity": cheap marker} of the last ingestion from it."""
        self._refresh()
        with self._index_lock:
            return dict(self._index.origins.get(source, {}))

    # -- locking and upkeep --------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the repository's publish lock, with the index fresh. Re-entrant for the thread holding it;
        other threads and processes wait."""
        if self._lock_owner == threading.get_ident():
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".publish.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._lock_owner, self._lock_depth = threading.get_ident(), 1
            try:
                self._refresh()
                yield
            finally:
                self._lock_owner, self._lock_depth = None, 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sweep_temporaries(self, *folders: Path) -> int:
        """Delete temporary files left by publishers on this machine that were killed. Returns how many."""
        removed = 0
        host = host_name()
        for folder in folders:
            if not folder.exists():
                continue
            for tmp in folder.rglob(".*.tmp"):
                parts = tmp.name[:-4].rsplit(".", 3)
                if len(parts) != 4 or parts[1] != host or not parts[2].isdigit() or _alive(int(parts[2])):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed += 1
        return removed

    # -- internals -----------------------------------------------------------------------------

    def _publish(
        self, target: Path, data: Any, *, rows: int | None, run_id: str | None, provenance: dict[str, Any] | None
    ) -> Published:
        sha = sha256_bytes(data)
        relative = target.relative_to(self.root).as_posix()
        tmp = None
        try:
            with self.locked():
                known = self._index.live.get(relative)
                if target.exists():
                    previous = known.sha256 if known is not None else sha256_file(target)
                else:
                    previous = None
                if previous == sha and known is not None:
                    return Published(relative, sha, rows, changed=False)
                if previous == sha:
                    # In place but never logged: its publisher died between the rename and the log.
                    self._keep_object(target, sha)
                    self._append(ChangeRecord(
                        op="add", path=relative, sha256=sha, previous_sha256=None, rows=rows, run_id=run_id,
                        at=_now(), provenance=provenance or {},
                    ))
                    return Published(relative, sha, rows, changed=True)
                tmp = write_temporary(target, data)
                self._keep_object(tmp, sha)
                os.replace(tmp, target)
                tmp = None
                fsync_dir(target.parent)
                self._append(ChangeRecord(
                    op="replace" if previous else "add", path=relative, sha256=sha, previous_sha256=previous,
                    rows=rows, run_id=run_id, at=_now(), provenance=provenance or {},
                ))
        finally:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        return Published(relative, sha, rows, changed=True)

    def _keep_object(self, path: Path, sha: str | None) -> None:
        """Hard-link `path` (whose content hashes to `sha`) into the object store, if not there yet."""
        if not sha:
            return
        obj = self.object_path(sha)
        if obj.exists():
            return
        obj.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, obj)
        except FileExistsError:
            pass
        except OSError:
            # No hard links here (another file system, a restrictive mount): keep a copy instead.
            tmp = obj.with_name(f".{obj.name}.{host_name()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, obj)

    def _append(self, record: ChangeRecord) -> None:
        line = (json.dumps(asdict(record), sort_keys=True) + "\n").encode("utf-8")
        log_path = self.root / CHANGELOG
        with log_path.open("ab") as handle:
            end = handle.tell()
            if end and end > self._index.offset:
                # A torn last line (a writer died mid-write): drop it before appending after it.
                handle.truncate(self._index.offset)
                log.warning("%s: dropped a torn last line (%d bytes)", log_path, end - self._index.offset)
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        with self._index_lock:
            self._apply(record)
            self._index.offset += len(line)

    def _refresh(self) -> None:
        log_path = self.root / CHANGELOG
        with self._index_lock:
            if not log_path.exists():
                self._index = _Index()
                return
            size = log_path.stat().st_size
            if size < self._index.offset:  # rewritten from outside: start over
                self._index = _Index()
            if size == self._index.offset:
                return
            with log_path.open("rb") as handle:
                handle.seek(self._index.offset)
                tail = handle.read()
            records, consumed = _parse_log(tail, log_path, self._index.offset)
            for record in records:
                self._apply(record)
            self._index.offset += consumed

    def _apply(self, record: ChangeRecord) -> None:
        if record.op == "remove":
            self._index.live.pop(record.path, None)
            return
        self._index.live[record.path] = record
        prov = record.provenance
        if prov.get("source") and prov.get("origin") and prov.get("kind") != "quarantine":
            self._index.origins.setdefault(prov["source"], {})[prov["origin"]] = {
                "sha256": prov.get("origin_sha256", ""), "identity": prov.get("origin_identity", "")}

    def _adopt_existing_files(self) -> None:
        """Give a repository made before the object store its current files' content, once."""
        self._refresh()
        for relative, record in self._index.live.items():
            path = self.root / relative
            if record.sha256 and path.is_file() and sha256_file(path) == record.sha256:
                self._keep_object(path, record.sha256)


def _inside(zone: str, parts: tuple[str, ...]) -> PurePosixPath:
    relative = PurePosixPath(*parts) if parts else PurePosixPath()
    if relative.is_absolute() or ".." in relative.parts:
        raise RepositoryError(f"path {relative} escapes zone {zone!r}")
    return relative


def _parse_log(data: bytes, log_path: Path, start: int) -> tuple[list[ChangeRecord], int]:
    """Records in `data` (complete lines only) and how many bytes they took; a torn last line waits."""
    records = []
    consumed = 0
    number_base = None
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break  # being written, or torn by a writer that died: not a record (yet)
        consumed += len(raw)
        if not raw.strip():
            continue
        try:
            records.append(ChangeRecord(**json.loads(raw)))
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            if number_base is None:
                number_base = log_path.read_bytes()[:start].count(b"\n") if start else 0
            line = number_base + data[:consumed].count(b"\n")
            raise RepositoryError(f"{log_path}:{line}: unreadable change record: {exc}") from None
    return records, consumed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
