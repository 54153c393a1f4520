"""Files in a folder under the landing root, matched by a glob: CSV, JSON lines or Parquet.

A file's identity is its size and modification time, so a run that finds nothing new reads nothing;
its checksum is taken from the bytes it parses. With `date_in_name`, a run takes only the files
dated inside its window. A file whose size or modification time changes while it is read (or since it
was listed) is not published: the error says to run again once the writer is done. Compressed files
(gzip, bz2, xz, zstd: by extension or `location.compression`) are decompressed before parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from datacentric.hashing import sha256_bytes
from datacentric.sources.base import (
    EVERYTHING,
    ParsedUnit,
    SourceReader,
    Unit,
    Window,
    date_in_name,
    date_pattern,
    safe_unit_name,
)
from datacentric.sources.formats import COMPRESSION_SUFFIXES, compression_of, decompress, parse


class FileReader(SourceReader):
    def folder(self) -> Path:
        root = self.landing_root.resolve()
        folder = (root / self.spec.location.path).resolve()
        if folder != root and root not in folder.parents:
            raise self.input_error(f"location.path {self.spec.location.path!r}", f"escapes the landing root {root}")
        return folder

    def where(self) -> str:
        return str(self.folder() / self.spec.location.pattern)

    def units(self, window: Window = EVERYTHING, state: Mapping[str, Any] | None = None) -> list[Unit]:
        loc = self.spec.location
        folder = self.folder()
        if not folder.is_dir():
            raise self.error(str(folder), "folder not found")
        root = self.landing_root.resolve()
        pattern = date_pattern(loc.date_in_name) if loc.date_in_name else None
        units, matched = [], 0
        for path in sorted(folder.glob(loc.pattern)):
            if not path.is_file() or path.name.startswith("."):
                continue
            matched += 1
            resolved = path.resolve()
            if root not in resolved.parents:  # a symlink pointing out of the landing root
                raise self.input_error(str(path), f"resolves to {resolved}, outside the landing root {root}")
            relative = path.relative_to(folder).as_posix()
            date = None
            if pattern is not None:
                date = date_in_name(relative, pattern)
                if date is None:
                    raise self.input_error(str(path), f"no date matching date_in_name {loc.date_in_name!r} in its name")
                if not window.contains(date):
                    continue
            stat = path.stat()
            plain = PurePosixPath(relative)
            if compression_of(plain.name, loc.compression) is not None and plain.suffix.lower() in COMPRESSION_SUFFIXES:
                plain = plain.with_suffix("")  # data.csv.gz names the unit data, as data.csv does
            units.append(Unit(
                name=safe_unit_name(str(plain.with_suffix(""))),
                origin=path.as_uri(),
                identity=f"{stat.st_size}:{stat.st_mtime_ns}",
                date=date,
            ))
        if not matched:
            raise self.error(self.where(), "no data found (empty source)")
        return units

    def read(self, unit: Unit) -> ParsedUnit:
        loc = self.spec.location
        path = Path(unquote(urlparse(unit.origin).path))
        try:
            before = path.stat()
            data = path.read_bytes()
            after = path.stat()
        except OSError as exc:
            raise self.error(str(path), f"unreadable ({exc.strerror})") from None
        seen = {f"{before.st_size}:{before.st_mtime_ns}", f"{after.st_size}:{after.st_mtime_ns}", f"{len(data)}:"
                f"{after.st_mtime_ns}"}
        if len(seen) > 1 or (unit.identity is not None and unit.identity not in seen):
            raise self.error(str(path), "the file changed while it was read (size or modification time differs "
                             "before and after, or from when it was listed); nothing of it is published; run "
                             "again once its writer has finished")
        fingerprint = sha256_bytes(data)
        data = decompress(data, compression_of(path.name, loc.compression), source=self.name, origin=str(path))
        parsed = parse(data, loc.format, source=self.name, origin=str(path),
                       kinds={n: c.type for n, c in self.spec.columns.items() if c.path is None},
                       encoding=loc.encoding, delimiter=loc.delimiter)
        parsed.fingerprint = fingerprint
        return parsed
