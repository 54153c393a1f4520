"""Files in a folder under the landing root, matched by a glob: CSV, JSON lines or Parquet."""

from __future__ import annotations

from pathlib import Path

from datacentric.repository import sha256_file
from datacentric.sources.base import ParsedUnit, SourceReader, Unit
from datacentric.sources.formats import parse


class FileReader(SourceReader):
    def folder(self) -> Path:
        root = self.landing_root.resolve()
        folder = (root / self.spec.location.path).resolve()
        if folder != root and root not in folder.parents:
            raise self.error(f"location.path {self.spec.location.path!r}", f"escapes the landing root {root}")
        return folder

    def units(self) -> list[Unit]:
        folder = self.folder()
        if not folder.is_dir():
            raise self.error(str(folder), "folder not found")
        return [
            Unit(name=path.stem, origin=path.as_uri(), fingerprint=sha256_file(path))
            for path in sorted(folder.glob(self.spec.location.pattern))
            if path.is_file()
        ]

    def read(self, unit: Unit) -> ParsedUnit:
        path = Path(unit.origin.removeprefix("file://"))
        parsed = parse(path.read_bytes(), self.spec.location.format, source=self.name, origin=str(path))
        parsed.fingerprint = unit.fingerprint or sha256_file(path)
        return parsed
