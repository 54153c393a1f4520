"""Time parsing for the whole project: naive times are UTC, ISO 8601 in and out.

Every argument, Param, state value and command-line option that names a time goes through
`parse_instant` (text from a person) or `parse_time` (values from state files and databases), so
they all accept the same forms and fail with the same message.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from datacentric.errors import TimeFormatError

_UNSET = ("", "none", "null")


def as_utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC, everywhere in the project."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def plain_utc(when: datetime) -> datetime:
    """A plain `datetime` in UTC. Subclasses such as pendulum's DateTime, which Airflow passes, are
    converted: their arithmetic can drop the time zone."""
    when = as_utc(when)
    return datetime(when.year, when.month, when.day, when.hour, when.minute, when.second, when.microsecond,
                    tzinfo=UTC)


def is_date_only(text: str) -> bool:
    """True for a bare date such as 2026-10-31 (no time of day)."""
    text = text.strip()
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


def parse_instant(text: Any, what: str = "time", *, day_end: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time from a person: a Param, an option, a restore target.

    Empty, ``None``, ``"None"`` and ``"null"`` (an unset Param as Jinja renders it) mean not given and
    give None. A trailing ``Z`` is UTC; naive times are UTC. A bare date means the start of that day,
    or its last instant with `day_end` (e.g. "the state as of 2026-10-31"). Anything else raises
    `TimeFormatError` naming `what`.
    """
    if text is None:
        return None
    if isinstance(text, datetime):
        return as_utc(text)
    raw = str(text).strip()
    if raw.lower() in _UNSET:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise TimeFormatError(f"{what}: {raw!r} is not an ISO date or date-time (ISO 8601, e.g. 2026-10-31 "
                              "or 2026-10-31T12:00:00+00:00)") from None
    if day_end and is_date_only(raw):
        when = datetime.combine(when.date(), time.max)
    return as_utc(when)


def parse_time(value: Any) -> datetime | None:
    """A datetime from a state value, a database value or an ISO string (naive = UTC); None if empty."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    import pandas as pd

    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    return as_utc(stamp.to_pydatetime())
