"""A JSON REST API, page by page (page, cursor or link), by time window, retried only on transient
failures. Design note: docs/explanation/ingestion.md.

What the reader refuses to do, each with an error naming the source and the URL: follow a redirect to
another host with the connection's credentials (unless `redirect_hosts` lists it), let one request run
past `deadline_seconds` (a body trickled byte by byte), follow a pagination loop (a next link or a
cursor seen before, a page that repeats the one before), or wait longer than `max_retry_after_seconds`
because a server said so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from datacentric.hashing import sha256_json
from datacentric.sources.base import (
    EVERYTHING,
    ParsedUnit,
    SourceReader,
    Unit,
    Window,
    floor_partition,
    partitions,
)
from datacentric.times import parse_time

TRANSIENT_STATUSES = (429, 500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10

log = logging.getLogger(__name__)


class DeadlinePassed(Exception):
    """A retry would start after the request's deadline."""


class RetryAfterTooLong(Exception):
    """A server asked for a wait longer than the reader's `max_retry_after_seconds`."""

    def __init__(self, header: str, status: int) -> None:
        super().__init__(header, status)
        self.header = header
        self.status = status


class HttpReader(SourceReader):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: Any = None
        self._deadline = float("inf")  # of the request under way (time.monotonic)

    # -- where ---------------------------------------------------------------------------------

    def url(self) -> str:
        """The first page's URL: absolute, or the manifest's path under the connection's base URL."""
        loc = self.spec.location
        base = (self.clients.get("http") or {}).get("base_url")
        parts = urlsplit(loc.url)
        if parts.scheme:
            if parts.scheme not in ("http", "https"):
                raise self.error("location.url", f"scheme {parts.scheme!r} is not http or https")
            if base and urlsplit(base).netloc != parts.netloc:
                raise self.error("location.url", f"host {parts.netloc!r} is not the host of connection {loc.conn_id!r}")
            return loc.url
        if not base:
            raise self.error("location.url", f"{loc.url!r} is a path: give an absolute URL or a conn_id with a host")
        if ".." in parts.path.split("/"):
            raise self.error("location.url", f"{loc.url!r} escapes the connection's base URL")
        return urljoin(base.rstrip("/") + "/", loc.url.lstrip("/"))

    def where(self) -> str:
        return _without_credentials(self.url())

    # -- units ---------------------------------------------------------------------------------

    def units(self, window: Window = EVERYTHING, state: Mapping[str, Any] | None = None) -> list[Unit]:
        loc = self.spec.location
        state = state or {}
        if loc.window is None:
            return [Unit(name="records", origin=self.where())]
        slicing = loc.window
        lower: datetime | None
        if window.start is not None:
            lower = window.start
        else:
            cursor = parse_time(state.get("cursor"))
            lower = floor_partition(cursor, slicing.partition) if cursor is not None else parse_time(slicing.earliest)
        assert lower is not None
        lower = _back(lower, slicing.partition, slicing.lookback, floor=parse_time(slicing.earliest))
        upper = window.end or datetime.now(UTC)
        return [
            Unit(name=name, origin=f"{self.where()}#{slicing.partition}={name}", bounds=(start, end))
            for name, start, end in partitions(lower, upper, slicing.partition)
        ] if lower < upper else []

    # -- reading -------------------------------------------------------------------------------

    def read(self, unit: Unit) -> ParsedUnit:
        import pandas as pd

        loc = self.spec.location
        pages = loc.pagination
        params: dict[str, Any] = dict(loc.params)
        if unit.bounds is not None and loc.window is not None:
            params[loc.window.start_param] = _format_time(unit.bounds[0], loc.window.format)
            params[loc.window.end_param] = _format_time(unit.bounds[1], loc.window.format)
        first = self.url()
        url = first
        records: list[dict[str, Any]] = []
        bad: list[tuple[int, str, str]] = []
        page_number, cursor, row = pages.first_page, None, 0
        seen: dict[Any, int] = {}  # next links or cursors already followed -> the page that gave them
        previous_items: Any = None
        for page in range(1, pages.max_pages + 1):
            query: dict[str, Any] = dict(params)
            if pages.style == "page":
                query[pages.page_param] = page_number
                if pages.size_param:
                    query[pages.size_param] = pages.page_size
            elif pages.style == "cursor" and cursor is not None:
                query[pages.cursor_param] = cursor
            follows_link = pages.style == "link" and page > 1  # the next link carries its own query
            response = self._get(url, None if follows_link else query)
            where = f"{_without_credentials(response.url)} (page {page})"
            try:
                body = response.json()
            except ValueError:
                kind = response.headers.get("Content-Type", "unknown")
                raise self.error(where, f"response is not JSON (Content-Type {kind}): {response.text[:120]!r}") \
                    from None
            items = _dig(body, loc.records)
            if not isinstance(items, list):
                path = loc.records or "the body"
                raise self.error(where, f"expected a list of records at {path!r}, got {type(items).__name__}")
            for index, item in enumerate(items, start=1):
                row += 1
                if isinstance(item, dict):
                    records.append(item)
                else:
                    bad.append((row, json.dumps(item, default=str)[:1000],
                                f"page {page} item {index}: expected a JSON object, got {type(item).__name__}"))
            if pages.style == "none":
                break
            if pages.style == "page":
                if not items or (pages.page_size and len(items) < pages.page_size):
                    break
                if items == previous_items:
                    raise self.input_error(where, f"page {page} holds the same {len(items)} record(s) as page "
                                           f"{page - 1}: the API ignores {pages.page_param!r} "
                                           "(pagination.page_param) and would repeat it to max_pages")
                previous_items = items
                page_number += 1
            elif pages.style == "cursor":
                following = _dig(body, pages.cursor_path or "", missing=None)
                if following in (None, ""):
                    break
                key = json.dumps(following, sort_keys=True, default=str)
                if key in seen:
                    raise self.input_error(where, f"pagination loops: the API returned cursor {following!r} again "
                                           f"(first given by page {seen[key]}); stopped")
                seen[key] = page
                cursor = following
            else:
                following = _dig(body, pages.next_path, missing=None) if pages.next_path else \
                    response.links.get("next", {}).get("url")
                if not following:
                    break
                seen.setdefault(response.url, page)  # the URL each page was fetched from
                url = urljoin(response.url, str(following))
                if urlsplit(url)[:2] != urlsplit(first)[:2]:
                    raise self.error(where, f"next page {_without_credentials(url)} is on another host; not followed")
                if url in seen:
                    raise self.input_error(where, f"pagination loops: the next link {_without_credentials(url)} "
                                           f"was already fetched (page {seen[url]}); stopped")
                seen[url] = page + 1
        else:
            raise self.error(self.where(), f"more than {pages.max_pages} pages (pagination.max_pages)")
        frame = self._latest_versions(pd.DataFrame.from_records(records), unit)
        for name in self.spec.columns:
            if name not in frame.columns and len(frame):
                frame[name] = None  # a key absent from every record is null, as in JSON lines files
        if loc.window is None and not records and not bad:
            raise self.error(self.where(), "no records (empty source)")
        fingerprint = sha256_json([records, bad])
        cursor_after = unit.bounds[1].isoformat() if unit.bounds is not None else None
        return ParsedUnit(frame, bad, fingerprint=fingerprint, cursor=cursor_after)

    def _latest_versions(self, frame: Any, unit: Unit) -> Any:
        """One row per key: the one with the newest `updated_at` (the later delivered on a tie)."""
        import pandas as pd

        column = self.spec.location.updated_at
        keys = list(self.spec.keys)
        if column is None or frame.empty:
            return frame
        if column not in frame.columns:
            raise self.input_error(unit.origin, f"no record has location.updated_at column {column!r} "
                                   f"(fields: {', '.join(map(str, frame.columns))})")
        if not set(keys) <= set(frame.columns):
            return frame  # typing reports the missing key column
        raw = frame[column]
        order = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601") \
            if not pd.api.types.is_numeric_dtype(raw) else raw
        ranked = frame.assign(_order=order.to_numpy(), _delivered=range(len(frame)))
        ranked = ranked.sort_values(["_order", "_delivered"], na_position="first", kind="stable")
        latest = ranked.drop_duplicates(subset=keys, keep="last").sort_values("_delivered")
        superseded = len(frame) - len(latest)
        if superseded:
            log.warning("source %r: %s: %d record(s) superseded by a later version of the same key (%s, by %s)",
                        self.name, unit.origin, superseded, ", ".join(keys), column)
        return latest.drop(columns=["_order", "_delivered"]).reset_index(drop=True)

    def next_state(self, window: Window, state: Mapping[str, Any], cursors: list[Any]) -> dict[str, Any]:
        previous = state.get("cursor")
        if self.spec.location.window is None:
            return {}
        ends = [end for end in map(parse_time, cursors) if end is not None]
        if not window.is_catch_up or not ends:
            return {"cursor": previous} if previous is not None else {}
        before = parse_time(previous)
        latest = max(ends) if before is None else max(*ends, before)
        return {"cursor": latest.isoformat()}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- HTTP ----------------------------------------------------------------------------------

    def session(self) -> Any:
        """A requests session that retries transient failures (429, 5xx, timeouts) on GET only, waiting
        a server's Retry-After up to `max_retry_after_seconds`."""
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            loc = self.spec.location
            retry = _capped_retry(
                loc.max_retry_after_seconds, lambda: self._deadline,
                total=loc.retries, connect=loc.retries, read=loc.retries, status=loc.retries, other=0,
                status_forcelist=TRANSIENT_STATUSES, allowed_methods=frozenset({"GET"}),
                backoff_factor=loc.backoff_seconds, respect_retry_after_header=True, raise_on_status=False,
            )
            session = requests.Session()
            session.max_redirects = MAX_REDIRECTS
            adapter = HTTPAdapter(max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            conn = self.clients.get("http") or {}
            session.headers.update({"Accept": "application/json", **(conn.get("headers") or {})})
            if conn.get("auth"):
                session.auth = tuple(conn["auth"])
            self._session = session
        return self._session

    def _get(self, url: str, params: dict[str, Any] | None) -> Any:
        """One GET, its redirects followed by hand (same host, or a host in `redirect_hosts`), its body read
        within `deadline_seconds` of the start."""
        loc = self.spec.location
        deadline = self._deadline = time.monotonic() + loc.deadline_seconds
        current, query = url, params
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(current, query, deadline)
            target = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not target:
                break
            response.close()
            target = urljoin(response.url, target)
            self._check_redirect(response.url, target)
            current, query = target, None
        else:
            raise self.input_error(_without_credentials(url), f"more than {MAX_REDIRECTS} redirects")
        self._read_body(response, deadline)
        if response.status_code >= 400:
            attempts = loc.retries + 1
            transient = response.status_code in TRANSIENT_STATUSES
            after = f" after {attempts} attempt(s)" if transient else " (not retried: not a transient error)"
            excerpt = response.text[:200].strip()
            problem = f"HTTP {response.status_code} {response.reason}{after}" + (f": {excerpt}" if excerpt else "")
            raise self.error(_without_credentials(response.url), problem)
        return response

    def _send(self, url: str, params: dict[str, Any] | None, deadline: float) -> Any:
        import requests

        loc = self.spec.location
        shown = _without_credentials(url)
        attempts = loc.retries + 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self.error(shown, self._past_deadline())
        try:
            return self.session().get(url, params=params, timeout=min(loc.timeout_seconds, remaining),
                                      stream=True, allow_redirects=False)
        except DeadlinePassed:
            raise self.error(shown, self._past_deadline(f", {attempts} attempt(s) at most")) from None
        except RetryAfterTooLong as exc:
            raise self.error(shown, f"HTTP {exc.status}: the server asks to wait (Retry-After: {exc.header}), "
                             f"longer than location.max_retry_after_seconds ({loc.max_retry_after_seconds:g}s); "
                             "not waited for (the task may retry later)") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            if "timed out" in str(exc).lower() or isinstance(exc, requests.Timeout):
                problem = f"no response within {loc.timeout_seconds:g}s, {attempts} attempt(s)"
            else:
                problem = f"cannot connect after {attempts} attempt(s) ({exc.__class__.__name__})"
            raise self.error(shown, problem) from None
        except requests.RequestException as exc:
            raise self.error(shown, f"request failed: {exc.__class__.__name__}: {exc}") from None

    def _check_redirect(self, origin: str, target: str) -> None:
        """A redirect stays on its scheme's host, or goes to a host the manifest allows: the request
        carries the connection's credentials (auth, headers) wherever it goes."""
        before, after = urlsplit(origin), urlsplit(target)
        if after.scheme not in ("http", "https"):
            raise self.input_error(_without_credentials(origin),
                                   f"redirected to {_without_credentials(target)}: scheme {after.scheme!r} "
                                   "is not http or https")
        if _host(before) == _host(after):
            return
        allowed = {h.lower() for h in self.spec.location.redirect_hosts}
        if (after.hostname or "").lower() in allowed or _host(after) in allowed:
            return
        raise self.input_error(
            _without_credentials(origin),
            f"redirected from host {_host(before)!r} to another host {_host(after)!r} "
            f"({_without_credentials(target)}); not followed, the request carries the connection's credentials "
            f"(list {after.hostname!r} in location.redirect_hosts to allow it)")

    def _read_body(self, response: Any, deadline: float) -> None:
        """Read the body as it comes, one socket read at a time, and stop at the deadline: the socket
        timeout bounds each read, not the whole body."""
        import requests
        import urllib3

        shown = _without_credentials(response.url)
        chunks: list[bytes] = []
        try:
            while True:
                if time.monotonic() > deadline:
                    received = sum(map(len, chunks))
                    raise self.error(shown, self._past_deadline(f", {received} byte(s) of the body received"))
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise self.error(shown, f"the body could not be read: {exc.__class__.__name__}: {exc}") from None
        finally:
            response.close()
        response._content = b"".join(chunks)

    def _past_deadline(self, detail: str = "") -> str:
        loc = self.spec.location
        return (f"the request took longer than location.deadline_seconds ({loc.deadline_seconds:g}s){detail}; "
                f"stopped (timeout_seconds, {loc.timeout_seconds:g}s, bounds each read)")


def _capped_retry(max_retry_after: float, deadline: Callable[[], float], **kwargs: Any) -> Any:
    """urllib3's Retry that refuses a Retry-After longer than `max_retry_after` instead of sleeping it,
    and starts no retry after the request's `deadline()`."""
    from urllib3.util.retry import Retry

    class CappedRetry(Retry):
        def increment(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]  # passed through
            if time.monotonic() > deadline():
                raise DeadlinePassed
            return super().increment(*args, **kwargs)

        def sleep_for_retry(self, response: Any) -> bool:
            after = self.get_retry_after(response)
            if after is not None and after > max_retry_after:
                raise RetryAfterTooLong(str(response.headers.get("Retry-After", after)), response.status)
            return bool(super().sleep_for_retry(response))

    return CappedRetry(**kwargs)


def _dig(body: Any, path: str | None, *, missing: Any = ...) -> Any:
    """The value at a dotted path ("data.items") in a JSON body; "" is the body itself."""
    value = body
    for key in [k for k in (path or "").split(".") if k]:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif missing is not ...:
            return missing
        else:
            return None
    return value


def _format_time(when: datetime, fmt: str) -> str | int:
    if fmt == "epoch":
        return int(when.timestamp())
    return when.strftime(fmt)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _host(parts: Any) -> str:
    """host[:port] of a split URL, lower case, without credentials."""
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _back(lower: datetime, partition: str, count: int, *, floor: datetime | None) -> datetime:
    """`count` partitions before the partition of `lower` (a look-back), never before `floor`."""
    if count == 0:
        return lower
    start = floor_partition(lower, partition)
    for _ in range(count):
        start = floor_partition(start - timedelta(microseconds=1), partition)
    return max(start, floor) if floor is not None else start
