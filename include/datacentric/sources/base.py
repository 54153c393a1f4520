"""The source plug-in interface, the type -> reader table, and the data window a run ingests.

A reader lists the units a source offers for a window (files, objects, a table, one partition of a
table or an API), each with an origin URI and, where it is cheap, an identity that changes whenever
the unit's content may have changed (size and mtime, an ETag). It parses one unit into rows plus the
rows it could not parse. Everything else (typing, quarantine, publishing, state) is the same for
every kind and lives in `datacentric.sources.ingest`.
"""

from __future__ import annotations

import abc
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datacentric.errors import InputError, ParamError, SourceError
from datacentric.times import as_utc


@dataclass(frozen=True)
class Window:
    """The data a run ingests: units dated in [start, end).

    `start` None is a catch-up: everything before `end` that was not ingested yet (a scheduled run
    whose data interval is empty, a manual run). `end` None has no upper bound. Sources that cannot
    date their units (no `date_in_name`, no incremental column) take every new unit whatever the window.
    """

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, as_utc(value))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ParamError(f"window start {self.start.isoformat()} is not before its end {self.end.isoformat()} "
                             "(--start/--end, or the run's data interval)")

    @property
    def is_catch_up(self) -> bool:
        return self.start is None

    def contains(self, when: datetime) -> bool:
        when = as_utc(when)
        return (self.start is None or self.start <= when) and (self.end is None or when < self.end)

    def as_dict(self) -> dict[str, str | None]:
        return {"start": _iso(self.start), "end": _iso(self.end)}

    @classmethod
    def for_interval(cls, start: datetime | None, end: datetime | None) -> Window:
        """A run's window: its data interval when it has one, else a catch-up up to its end."""
        if start is not None and end is not None and as_utc(start) < as_utc(end):
            return cls(start, end)
        return cls(None, end)


EVERYTHING = Window()


@dataclass(frozen=True)
class Unit:
    """One piece of a source that is ingested whole: a file, an object, a table or one partition of it."""

    name: str  # stable, file-name safe, may contain "/": names the raw file it becomes
    origin: str  # URI of where it came from; never carries credentials
    identity: str | None = None  # cheap change marker known before reading (size+mtime, ETag); None: read to know
    date: datetime | None = None  # the date in the unit's name, for sources that date their units
    bounds: tuple[Any, Any] | None = None  # [low, high) of a partition or (watermark, None) of new rows


@dataclass
class ParsedUnit:
    """Rows of one unit: an Arrow table (fast path) or a pandas frame (rows of mixed types)."""

    data: Any  # pyarrow.Table or pandas.DataFrame
    # Rows that could not be parsed at all: (line or row number, raw text, reason).
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)
    fingerprint: str = ""  # checksum of the unit's content as delivered
    cursor: Any = None  # the reader's progress marker after this unit (e.g. max of the incremental column)

    @property
    def rows(self) -> int:
        return len(self.data)


class SourceReader(abc.ABC):
    """Reads one source of the manifest. Subclasses keep their clients; nothing is opened in __init__."""

    def __init__(self, name: str, spec: Any, *, landing_root: Path, clients: dict[str, Any] | None = None) -> None:
        self.name = name
        self.spec = spec
        self.landing_root = Path(landing_root)
        self.clients = clients or {}

    @abc.abstractmethod
    def units(self, window: Window = EVERYTHING, state: Mapping[str, Any] | None = None) -> list[Unit]:
        """What the source offers for `window`, in a stable order. `state` is what earlier runs learned
        (this source's entry of the state file), e.g. the cursor a catch-up starts from."""

    @abc.abstractmethod
    def read(self, unit: Unit) -> ParsedUnit:
        """Parse one unit; raise SourceError naming the unit for anything that is not a row problem."""

    def next_state(self, window: Window, state: Mapping[str, Any], cursors: list[Any]) -> dict[str, Any]:
        """What this reader wants remembered for the next run (e.g. {"cursor": ...}), from the cursors of
        the units it read in this run; {} by default."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional: most readers hold nothing open
        """Release what reading opened (engines, sessions); the reader may not be used afterwards."""

    def where(self) -> str:
        """The source's location in words, for errors (never with credentials)."""
        return str(self.spec.location)

    def error(self, where: str, problem: str) -> SourceError:
        return SourceError(self.name, where, problem)

    def input_error(self, where: str, problem: str) -> SourceInputError:
        """An error a retry cannot fix (the manifest or the source's own content must change)."""
        return SourceInputError(self.name, where, problem)


class SourceInputError(SourceError, InputError):
    """A source that cannot be read as the manifest describes it, and will not be by retrying: a
    redirect to a host the manifest does not allow, a pagination loop, a database file outside the
    landing root, a bucket that does not exist. The operator fails such a task without retrying."""


# type -> "module:Class"; a new kind of source is one module, one manifest class and one line here.
READERS: dict[str, str] = {
    "file": "datacentric.sources.file:FileReader",
    "sql": "datacentric.sources.sql:SqlReader",
    "s3": "datacentric.sources.s3:S3Reader",
    "http": "datacentric.sources.http:HttpReader",
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


# -- dates in names -------------------------------------------------------------------------------

_DIRECTIVE_PATTERNS = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})",
                       "%H": r"(?P<H>\d{2})", "%M": r"(?P<M>\d{2})", "%S": r"(?P<S>\d{2})"}


def date_pattern(fmt: str) -> re.Pattern[str]:
    """A regular expression for a strftime-like format (%Y %m %d %H %M %S), found anywhere in a name."""
    parts = re.split(r"(%.)", fmt)
    return re.compile("".join(_DIRECTIVE_PATTERNS.get(p, re.escape(p)) for p in parts if p))


def date_in_name(name: str, pattern: re.Pattern[str]) -> datetime | None:
    """The UTC date a name carries, or None when the name has none (or an impossible one)."""
    match = pattern.search(name)
    if match is None:
        return None
    groups = match.groupdict()
    try:
        return datetime(int(groups["Y"]), int(groups.get("m") or 1), int(groups.get("d") or 1),
                        int(groups.get("H") or 0), int(groups.get("M") or 0), int(groups.get("S") or 0),
                        tzinfo=UTC)
    except ValueError:
        return None


# -- partitions of time -----------------------------------------------------------------------------

def floor_partition(when: datetime, partition: str) -> datetime:
    when = as_utc(when)
    if partition == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    if partition == "day":
        return when.replace(hour=0, minute=0, second=0, microsecond=0)
    if partition == "month":
        return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown partition {partition!r}")


def next_partition(start: datetime, partition: str) -> datetime:
    if partition == "hour":
        return start + timedelta(hours=1)
    if partition == "day":
        return start + timedelta(days=1)
    if partition == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    raise ValueError(f"unknown partition {partition!r}")


def partition_name(start: datetime, partition: str) -> str:
    return start.strftime({"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}[partition])


def partitions(low: datetime, high: datetime, partition: str) -> list[tuple[str, datetime, datetime]]:
    """(name, start, end) of each partition overlapping [low, high), clipped to it."""
    out = []
    current = floor_partition(low, partition)
    while current < high:
        following = next_partition(current, partition)
        out.append((partition_name(current, partition), max(current, low), min(following, high)))
        current = following
    return out


def safe_unit_name(relative: str) -> str:
    """A unit name from a relative path or key: POSIX, no empty, '.' or '..' segments."""
    segments = [s for s in relative.replace("\\", "/").split("/") if s not in ("", ".")]
    return "/".join("_" if s == ".." else s for s in segments) or "_"


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
