"""The DVC cache writer: content-addressed objects (md5) linked or copied into `.dvc/cache`, written
atomically, in DVC's own layout, so `dvc` commands read them as their own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from datacentric.atomic import write_atomic
from datacentric.errors import RepositoryError
from datacentric.versioning.dvcfiles import ZoneContent

log = logging.getLogger(__name__)

_FICLONE = 0x40049409


_UNSUPPORTED_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP,
                     errno.ENOTSUP, errno.ENOSYS, errno.EACCES}


class ObjectStore:
    """Puts files into a DVC cache (files/md5/<2>/<30>) by reflink, hardlink or copy."""

    def __init__(self, cache_dir: Path, link_types: tuple[str, ...]) -> None:
        self.base = cache_dir / "files" / "md5"
        self.links = [t for t in link_types if t in ("reflink", "hardlink", "copy")] or ["copy"]
        self.known_dirs: set[str] = set()
        self.stored = 0
        self.link_used: str | None = None

    def _target(self, md5: str) -> str:
        folder = os.path.join(self.base, md5[:2])
        if folder not in self.known_dirs:
            os.makedirs(folder, exist_ok=True)
            self.known_dirs.add(folder)
        return os.path.join(folder, md5[2:])

    def add_file(self, path: str) -> tuple[str, os.stat_result]:
        """Hash `path` and make sure the cache holds its bytes; returns its md5 and its stat."""
        for _ in range(5):
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                md5 = hashlib.file_digest(handle, "md5").hexdigest()
                target = self._target(md5)
                if os.path.exists(target) or self._store(path, handle, st, target):
                    return md5, st
        raise RepositoryError(f"{path} kept changing while it was being snapshotted")

    def _store(self, path: str, handle: Any, st: os.stat_result, target: str) -> bool:
        """False when `path` was replaced between hashing and linking (the caller hashes again)."""
        while self.links:
            link = self.links[0]
            try:
                if link == "hardlink":
                    try:
                        os.link(path, target)
                    except FileExistsError:
                        return True
                    if os.stat(target).st_ino != st.st_ino:
                        os.unlink(target)  # a different file was renamed into place meanwhile
                        return False
                    os.fchmod(handle.fileno(), 0o444)
                else:
                    self._write_from(handle, target, clone=link == "reflink")
            except OSError as exc:
                if exc.errno in _UNSUPPORTED_LINK and len(self.links) > 1:
                    log.debug("cache link type %s unsupported here (%s); trying %s", link, exc, self.links[1])
                    self.links.pop(0)
                    continue
                raise
            self.stored += 1
            self.link_used = link
            return True
        raise RepositoryError("no cache link type left")

    def _write_from(self, handle: Any, target: str, *, clone: bool) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=os.path.dirname(target))
        try:
            if clone:
                fcntl.ioctl(fd, _FICLONE, handle.fileno())
            else:
                handle.seek(0)
                with os.fdopen(os.dup(fd), "wb") as out:
                    shutil.copyfileobj(handle, out, 1 << 20)
            os.fchmod(fd, 0o444)
            os.close(fd)
            fd = -1
            os.replace(tmp, target)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def add_tree(self, fragment: str, size: int, count: int) -> ZoneContent:
        """The .dir object of a zone, byte for byte what `dvc add` writes; stored if new."""
        data = f"[{fragment}]".encode()
        md5 = hashlib.md5(data).hexdigest() + ".dir"
        target = self._target(md5)
        if not os.path.exists(target):
            atomic_write_bytes(Path(target), data, mode=0o444)
        return ZoneContent(md5, size, count)


def object_path(cache_dir: Path, md5: str) -> Path:
    return cache_dir / "files" / "md5" / md5[:2] / md5[2:]


def atomic_write_bytes(target: Path, data: bytes, mode: int | None = None) -> None:
    # Snapshot metadata and cache objects: many small files that a retried snapshot rewrites, so
    # atomic but not fsynced one by one.
    write_atomic(target, data, mode=mode, durable=False)


def md5_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()
