"""The source plug-in interface and the type -> reader table."""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import SourceError


@dataclass(frozen=True)
class Unit:
    """One piece of a source that is ingested whole: a file, an object, a table snapshot."""

    name: str  # stable, file-name safe: names the raw file it becomes
    origin: str  # URI of where it came from
    fingerprint: str | None  # checksum or ETag if known before reading; None means "read to know"


@dataclass
class ParsedUnit:
    frame: pd.DataFrame
    # Rows that could not be parsed at all: (line or row number, raw text, reason).
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)
    fingerprint: str = ""


class SourceReader(abc.ABC):
    """Reads one source of the manifest. Subclasses keep their clients; nothing is opened in __init__."""

    def __init__(self, name: str, spec: Any, *, landing_root: Path, clients: dict[str, Any] | None = None) -> None:
        self.name = name
        self.spec = spec
        self.landing_root = Path(landing_root)
        self.clients = clients or {}

    @abc.abstractmethod
    def units(self) -> list[Unit]:
        """What the source offers now, in a stable order."""

    @abc.abstractmethod
    def read(self, unit: Unit) -> ParsedUnit:
        """Parse one unit; raise SourceError naming the unit for anything that is not a row problem."""

    def error(self, where: str, problem: str) -> SourceError:
        return SourceError(self.name, where, problem)


# type -> "module:Class"; a new kind of source is one module and one line here.
READERS: dict[str, str] = {
    "file": "datacentric.sources.file:FileReader",
    "sql": "datacentric.sources.sql:SqlReader",
    "s3": "datacentric.sources.s3:S3Reader",
}


def reader_for(
    name: str, spec: Any, *, landing_root: Path, clients: dict[str, Any] | None = None
) -> SourceReader:
    try:
        module_name, class_name = READERS[spec.type].split(":")
    except KeyError:
        raise SourceError(name, "manifest", f"unknown source type {spec.type!r}; known: {', '.join(READERS)}") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(name, spec, landing_root=landing_root, clients=clients)
