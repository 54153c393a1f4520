"""The zone scanner: which files of a zone changed since the last snapshot, from directory and file
metadata kept in the snapshot index, so a snapshot hashes only what is new.
"""

from __future__ import annotations

import contextlib
import gc
import json
import marshal
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from datacentric.versioning.cache import ObjectStore

# A directory or file whose mtime is this close to the previous scan may have changed again within
# the filesystem's timestamp granularity after it was recorded, so it is looked at again.
RACY_MARGIN_NS = 1_000_000_000


@dataclass
class _DirRecord:
    """One directory of a zone in the snapshot index. `files` maps a name to (inode, size, mtime_ns,
    md5), marshalled, so unchanged directories are never decoded; `fragment` is the part of the
    zone's .dir listing for the whole subtree, with its total size and file count."""

    mtime_ns: int
    inode: int
    files: bytes
    subdirs: tuple[str, ...]
    fragment: str
    size: int
    count: int


class ZoneScan:
    """Walks a zone, listing only directories whose mtime or inode changed since the last scan and
    hashing only files that are new or were replaced (see the module docstring).

    DVC sorts a .dir listing by relative path. Every path below a subdirectory `d` starts with `d/`,
    so among the entries of one directory, a subdirectory sorts as `d/` against file names: the
    listing of a subtree is contiguous, and an unchanged subtree's rendered fragment is reused."""

    def __init__(self, zone_root: Path, old_dirs: dict[str, tuple], store: ObjectStore, trusted_before: int):
        self.zone_root = str(zone_root)
        self.old_dirs = old_dirs
        self.store = store
        self.trusted_before = trusted_before
        self.dirs: dict[str, tuple] = {}
        self.changed = False

    def run(self) -> _DirRecord | None:
        if not os.path.isdir(self.zone_root):
            self.changed = bool(self.old_dirs)
            return None
        root, _ = self._visit("")
        if set(self.dirs) != set(self.old_dirs):
            self.changed = True
        return root

    def _visit(self, rel: str) -> tuple[_DirRecord | None, bool]:
        """The directory's record and whether it was reused whole (nothing below it changed)."""
        here = os.path.join(self.zone_root, rel) if rel else self.zone_root
        try:
            st = os.stat(here)
        except FileNotFoundError:
            self.changed = True
            return None, False
        old = _DirRecord(*self.old_dirs[rel]) if rel in self.old_dirs else None
        trusted = (old is not None and old.mtime_ns == st.st_mtime_ns and old.inode == st.st_ino
                   and old.mtime_ns < self.trusted_before)
        files: dict[str, tuple[int, int, int, str]] | None = None
        if trusted:
            assert old is not None
            files_blob, subdirs = old.files, old.subdirs
        else:
            self.changed = True
            files, subdirs = self._list(here, marshal.loads(old.files) if old else {})
            files_blob = marshal.dumps(files)
        prefix = f"{rel}/" if rel else ""
        visited = {sub: self._visit(prefix + sub) for sub in subdirs}
        children = {sub: child for sub, (child, _) in visited.items()}
        reused = trusted and all(child_reused for _, child_reused in visited.values())
        if reused:
            assert old is not None
            record = _DirRecord(st.st_mtime_ns, st.st_ino, files_blob, subdirs, old.fragment, old.size, old.count)
        else:
            if files is None:
                files = marshal.loads(files_blob)
            parts: list[tuple[str, str]] = []
            size = count = 0
            for name, (_, fsize, _, md5) in files.items():
                parts.append((name, f'{{"md5": "{md5}", "relpath": {_json_str(prefix + name)}}}'))
                size += fsize
                count += 1
            for sub, child in children.items():
                if child is not None and child.count:
                    parts.append((sub + "/", child.fragment))
                    size += child.size
                    count += child.count
            parts.sort(key=lambda part: part[0])
            record = _DirRecord(st.st_mtime_ns, st.st_ino, files_blob, subdirs,
                                ", ".join(fragment for _, fragment in parts), size, count)
        self.dirs[rel] = _record_tuple(record)
        return record, reused

    def _list(
        self, here: str, old_files: dict[str, tuple[int, int, int, str]]
    ) -> tuple[dict[str, tuple[int, int, int, str]], tuple[str, ...]]:
        files: dict[str, tuple[int, int, int, str]] = {}
        subdirs = []
        with os.scandir(here) as listing:
            for entry in listing:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(name)
                    continue
                if name.endswith(".tmp") or not entry.is_file():
                    continue
                previous = old_files.get(name)
                if previous is not None:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    if (st.st_ino, st.st_size, st.st_mtime_ns) == previous[:3] and previous[2] < self.trusted_before:
                        files[name] = previous
                        continue
                try:
                    md5, st = self.store.add_file(os.path.join(here, name))
                except FileNotFoundError:
                    continue  # removed while the snapshot ran
                files[name] = (st.st_ino, st.st_size, st.st_mtime_ns, md5)
        return files, tuple(sorted(subdirs))


def _record_tuple(record: _DirRecord) -> tuple:
    return (record.mtime_ns, record.inode, record.files, record.subdirs, record.fragment, record.size, record.count)


def _json_str(text: str) -> str:
    """json.dumps(text) (what DVC writes), without its cost for the usual plain names."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    # The index holds tens of thousands of small tuples; the cyclic collector would rescan them on
    # every allocation burst although none of them can form a cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
