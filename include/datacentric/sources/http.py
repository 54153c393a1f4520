"""A JSON REST API, page by page (page, cursor or link), by time window, retried only on transient
failures. Design note: docs/explanation/ingestion.md."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
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


class HttpReader(SourceReader):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session: Any = None

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
                page_number += 1
            elif pages.style == "cursor":
                following = _dig(body, pages.cursor_path or "", missing=None)
                if following in (None, ""):
                    break
                if following == cursor:
                    raise self.error(where, f"the API returned the same cursor {following!r} twice")
                cursor = following
            else:
                following = _dig(body, pages.next_path, missing=None) if pages.next_path else \
                    response.links.get("next", {}).get("url")
                if not following:
                    break
                url = urljoin(response.url, str(following))
                if urlsplit(url)[:2] != urlsplit(first)[:2]:
                    raise self.error(where, f"next page {_without_credentials(url)} is on another host; not followed")
        else:
            raise self.error(self.where(), f"more than {pages.max_pages} pages (pagination.max_pages)")
        frame = pd.DataFrame.from_records(records)
        for name in self.spec.columns:
            if name not in frame.columns and len(frame):
                frame[name] = None  # a key absent from every record is null, as in JSON lines files
        if loc.window is None and not records and not bad:
            raise self.error(self.where(), "no records (empty source)")
        fingerprint = sha256_json([records, bad])
        cursor_after = unit.bounds[1].isoformat() if unit.bounds is not None else None
        return ParsedUnit(frame, bad, fingerprint=fingerprint, cursor=cursor_after)

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
        """A requests session that retries transient failures (429, 5xx, timeouts) on GET only."""
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            loc = self.spec.location
            retry = Retry(
                total=loc.retries, connect=loc.retries, read=loc.retries, status=loc.retries, other=0,
                status_forcelist=TRANSIENT_STATUSES, allowed_methods=frozenset({"GET"}),
                backoff_factor=loc.backoff_seconds, respect_retry_after_header=True, raise_on_status=False,
            )
            session = requests.Session()
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
        import requests

        loc = self.spec.location
        shown = _without_credentials(url)
        attempts = loc.retries + 1
        try:
            response = self.session().get(url, params=params, timeout=loc.timeout_seconds)
        except (requests.Timeout, requests.ConnectionError) as exc:
            if "timed out" in str(exc).lower() or isinstance(exc, requests.Timeout):
                problem = f"no response within {loc.timeout_seconds:g}s, {attempts} attempt(s)"
            else:
                problem = f"cannot connect after {attempts} attempt(s) ({exc.__class__.__name__})"
            raise self.error(shown, problem) from None
        except requests.RequestException as exc:
            raise self.error(shown, f"request failed: {exc.__class__.__name__}: {exc}") from None
        if response.status_code >= 400:
            transient = response.status_code in TRANSIENT_STATUSES
            after = f" after {attempts} attempt(s)" if transient else " (not retried: not a transient error)"
            excerpt = response.text[:200].strip()
            problem = f"HTTP {response.status_code} {response.reason}{after}" + (f": {excerpt}" if excerpt else "")
            raise self.error(_without_credentials(response.url), problem)
        return response


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
