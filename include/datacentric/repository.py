"""The data repository: zones of Parquet files with provenance and an append-only change log.

Layout under the root::

    raw/<source>/...            rows as ingested, typed by the manifest
    validated/<source>/...      rows that passed the validation gate
    quarantine/<source>/...     rows that did not, each with its reasons
    labels/<task>/...           raw votes and consolidated labels
    features/<view>/...         offline feature tables read by Feast
    training_sets/...           point-in-time training sets
    reports/...                 validation results, Data Docs, labeling reports
    changelog.jsonl             one JSON object per addition, replacement or removal

Every file is published atomically (written under a temporary name in the same folder, fsynced, then
renamed), so a killed task leaves either the old file or the new one, never half of one. Publishing
identical bytes again is a no-op: re-running a stage changes nothing and logs nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from datacentric.errors import RepositoryError

ZONES = ("raw", "validated", "quarantine", "labels", "features", "training_sets", "reports")
CHANGELOG = "changelog.jsonl"


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


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


class DataRepository:
    """A folder of zones plus its change log. Safe for concurrent publishers on one machine."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def init(self) -> DataRepository:
        for zone in ZONES:
            (self.root / zone).mkdir(parents=True, exist_ok=True)
        (self.root / CHANGELOG).touch(exist_ok=True)
        return self

    # -- paths ---------------------------------------------------------------------------------

    def path(self, zone: str, *parts: str) -> Path:
        """The absolute path of `parts` inside `zone`; refuses anything that would leave the zone."""
        if zone not in ZONES:
            raise RepositoryError(f"unknown zone {zone!r}; zones are {', '.join(ZONES)}")
        relative = PurePosixPath(*parts) if parts else PurePosixPath()
        if relative.is_absolute() or ".." in relative.parts:
            raise RepositoryError(f"path {relative} escapes zone {zone!r}")
        return self.root / zone / relative

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

    def publish_bytes(
        self,
        zone: str,
        relpath: str,
        data: bytes,
        *,
        rows: int | None = None,
        run_id: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> Published:
        target = self.path(zone, relpath)
        sha = hashlib.sha256(data).hexdigest()
        with self._lock():
            previous = sha256_file(target) if target.exists() else None
            if previous == sha:
                return Published(self.relative(target), sha, rows, changed=False)
            _atomic_write(target, data)
            self._append(
                ChangeRecord(
                    op="replace" if previous else "add",
                    path=self.relative(target),
                    sha256=sha,
                    previous_sha256=previous,
                    rows=rows,
                    run_id=run_id,
                    at=_now(),
                    provenance=provenance or {},
                )
            )
        return Published(self.relative(target), sha, rows, changed=True)

    def remove(self, zone: str, relpath: str, *, reason: str, run_id: str | None = None) -> bool:
        """Remove a file as a recorded operation (retention, deletion request). False if absent."""
        target = self.path(zone, relpath)
        with self._lock():
            if not target.exists():
                return False
            previous = sha256_file(target)
            target.unlink()
            self._append(
                ChangeRecord("remove", self.relative(target), None, previous, None, run_id, _now(), {"reason": reason})
            )
        return True

    # -- reading -------------------------------------------------------------------------------

    def files(self, zone: str, *parts: str, pattern: str = "*.parquet") -> list[Path]:
        base = self.path(zone, *parts)
        return sorted(p for p in base.rglob(pattern) if p.is_file()) if base.exists() else []

    def read_frame(self, zone: str, *parts: str) -> pd.DataFrame:
        """All Parquet files under `zone/parts` as one frame (sorted by path, so reads are stable)."""
        files = self.files(zone, *parts)
        if not files:
            raise RepositoryError(f"nothing in {zone}/{'/'.join(parts)} of repository {self.root}")
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)

    def changelog(self) -> list[ChangeRecord]:
        log = self.root / CHANGELOG
        if not log.exists():
            return []
        records = []
        for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(ChangeRecord(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                raise RepositoryError(f"{log}:{number}: unreadable change record: {exc}") from None
        return records

    def origins_seen(self, source: str) -> dict[str, str]:
        """origin URI -> checksum of what was last ingested from it, for one source."""
        seen: dict[str, str] = {}
        for record in self.changelog():
            prov = record.provenance
            if record.op != "remove" and prov.get("source") == source and prov.get("origin"):
                seen[prov["origin"]] = prov.get("origin_sha256", "")
        return seen

    # -- internals -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".publish.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _append(self, record: ChangeRecord) -> None:
        line = json.dumps(asdict(record), sort_keys=True) + "\n"
        with (self.root / CHANGELOG).open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
