"""The http source against a real HTTP server on loopback (http.server in a thread): pagination styles,
retries of transient failures only, timeouts, bad responses, windows, credentials."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from datacentric.errors import SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources import Window
from datacentric.sources.ingest import ingest_source
from datacentric.sources.state import source_state

Reply = tuple[int, dict[str, str], Any]  # status, headers, body (JSON-able, or bytes as they are)


@dataclass
class Api:
    url: str
    routes: dict[str, Callable[[dict[str, str], dict[str, str]], Reply]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def route(self, path: str) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
        def register(handler: Callable[..., Reply]) -> Callable[..., Reply]:
            self.routes[path] = handler
            return handler

        return register


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state.hits[parts.path] = state.hits.get(parts.path, 0) + 1
            state.requests.append((parts.path, query))
            handler = state.routes.get(parts.path)
            if handler is None:
                status, headers, body = 404, {}, {"error": "no such route"}
            else:
                status, headers, body = handler(query, dict(self.headers))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def manifest(location: str, columns: str = "") -> Any:
    columns = columns or """
      id: {type: int, nullable: false}
      name: {type: str}
      at: {type: timestamp}"""
    return parse_manifest(f"""
name: t
sources:
  items:
    type: http
    owner: me
    location: {location}
    keys: [id]
    columns:{columns}
""")


def ingest(loaded: Any, repo: DataRepository, tmp_path: Path, run_id: str = "r1", **kwargs: Any) -> Any:
    result = ingest_source(loaded, "items", repo, landing_root=tmp_path, run_id=run_id, **kwargs)
    assert result.rows_in == result.rows_published + result.rows_quarantined
    return result


RECORDS = [{"id": i, "name": f"n{i}", "at": f"2026-10-0{1 + i % 4}T0{i % 10}:00:00Z"} for i in range(1, 8)]


def test_page_pagination_and_rerun_publishes_nothing(api: Api, tmp_path: Path) -> None:
    @api.route("/items")
    def items(query: dict[str, str], headers: dict[str, str]) -> Reply:
        page, size = int(query["page"]), int(query["size"])
        return 200, {"Content-Type": "application/json"}, {"data": {"items": RECORDS[(page - 1) * size: page * size]}}

    loaded = manifest(f"""
      url: {api.url}/items
      records: data.items
      pagination: {{style: page, size_param: size, page_size: 3}}""")
    repo = DataRepository(tmp_path / "repo").init()
    first = ingest(loaded, repo, tmp_path)
    assert (first.rows_in, first.rows_published) == (7, 7)
    assert api.hits["/items"] == 3  # 3 + 3 + 1: the short page ends it
    raw = repo.read_frame("raw", "items")
    assert sorted(raw["id"]) == list(range(1, 8)) and str(raw["at"].dtype) == "datetime64[ns, UTC]"
    log = (tmp_path / "repo" / "changelog.jsonl").read_bytes()
    state = repo.state_path("t").read_bytes()
    again = ingest(loaded, repo, tmp_path, run_id="r2")
    assert (again.units_ingested, again.units_skipped) == (0, 1)
    assert (tmp_path / "repo" / "changelog.jsonl").read_bytes() == log
    assert repo.state_path("t").read_bytes() == state


def test_cursor_pagination(api: Api, tmp_path: Path) -> None:
    pages = {None: (RECORDS[:4], "c2"), "c2": (RECORDS[4:], None)}

    @api.route("/feed")
    def feed(query: dict[str, str], headers: dict[str, str]) -> Reply:
        rows, following = pages[query.get("after")]
        return 200, {}, {"results": rows, "meta": {"next": following}}

    loaded = manifest(f"""
      url: {api.url}/feed
      records: results
      pagination: {{style: cursor, cursor_param: after, cursor_path: meta.next}}""")
    result = ingest(loaded, DataRepository(tmp_path / "repo").init(), tmp_path)
    assert result.rows_published == 7 and api.hits["/feed"] == 2


def test_link_pagination_header_and_body(api: Api, tmp_path: Path) -> None:
    @api.route("/h1")
    def h1(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {"Link": f'<{api.url}/h2?token=x>; rel="next"'}, RECORDS[:3]

    @api.route("/h2")
    def h2(query: dict[str, str], headers: dict[str, str]) -> Reply:
        assert query == {"token": "x"}
        return 200, {}, RECORDS[3:]

    result = ingest(manifest(f"{{url: {api.url}/h1, pagination: {{style: link}}}}"),
                    DataRepository(tmp_path / "a").init(), tmp_path)
    assert result.rows_published == 7

    @api.route("/b1")
    def b1(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {}, {"rows": RECORDS[:2], "next": "/b2"}

    @api.route("/b2")
    def b2(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {}, {"rows": RECORDS[2:], "next": None}

    result = ingest(manifest(f"{{url: {api.url}/b1, records: rows, pagination: {{style: link, next_path: next}}}}"),
                    DataRepository(tmp_path / "b").init(), tmp_path)
    assert result.rows_published == 7


def test_next_link_to_another_host_is_not_followed(api: Api, tmp_path: Path) -> None:
    @api.route("/away")
    def away(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {"Link": '<http://attacker.invalid/steal>; rel="next"'}, RECORDS

    with pytest.raises(SourceError, match="is on another host; not followed"):
        ingest(manifest(f"{{url: {api.url}/away, pagination: {{style: link}}}}"),
               DataRepository(tmp_path / "r").init(), tmp_path)


@pytest.mark.parametrize("status", [503, 429, 500])
def test_transient_errors_are_retried(api: Api, tmp_path: Path, status: int) -> None:
    @api.route("/flaky")
    def flaky(query: dict[str, str], headers: dict[str, str]) -> Reply:
        if api.hits["/flaky"] <= 2:
            return status, {"Retry-After": "0"}, {"error": "try later"}
        return 200, {}, RECORDS

    result = ingest(manifest(f"{{url: {api.url}/flaky, retries: 3, backoff_seconds: 0.01}}"),
                    DataRepository(tmp_path / "r").init(), tmp_path)
    assert result.rows_published == 7
    assert api.hits["/flaky"] == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_http_errors_fail_at_once_naming_url_and_status(api: Api, tmp_path: Path, status: int) -> None:
    @api.route("/broken")
    def broken(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return status, {}, {"error": "nope"}

    with pytest.raises(SourceError) as info:
        ingest(manifest(f"{{url: {api.url}/broken, retries: 3, backoff_seconds: 0.01}}"),
               DataRepository(tmp_path / "r").init(), tmp_path)
    message = str(info.value)
    assert f"{api.url}/broken" in message and f"HTTP {status}" in message and "not retried" in message
    assert api.hits["/broken"] == 1


def test_persistent_server_error_gives_up_after_the_retries(api: Api, tmp_path: Path) -> None:
    @api.route("/down")
    def down(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 502, {}, b"bad gateway"

    with pytest.raises(SourceError, match=r"HTTP 502 Bad Gateway after 3 attempt\(s\): bad gateway"):
        ingest(manifest(f"{{url: {api.url}/down, retries: 2, backoff_seconds: 0.01}}"),
               DataRepository(tmp_path / "r").init(), tmp_path)
    assert api.hits["/down"] == 3


def test_timeouts_are_retried_then_reported(api: Api, tmp_path: Path) -> None:
    @api.route("/slow-once")
    def slow_once(query: dict[str, str], headers: dict[str, str]) -> Reply:
        if api.hits["/slow-once"] == 1:
            time.sleep(1.0)
        return 200, {}, RECORDS

    result = ingest(manifest(f"{{url: {api.url}/slow-once, timeout_seconds: 0.3, retries: 2, backoff_seconds: 0}}"),
                    DataRepository(tmp_path / "a").init(), tmp_path)
    assert result.rows_published == 7 and api.hits["/slow-once"] == 2

    @api.route("/slow")
    def slow(query: dict[str, str], headers: dict[str, str]) -> Reply:
        time.sleep(1.0)
        return 200, {}, RECORDS

    with pytest.raises(SourceError, match=r"/slow: no response within 0.3s, 2 attempt\(s\)"):
        ingest(manifest(f"{{url: {api.url}/slow, timeout_seconds: 0.3, retries: 1, backoff_seconds: 0}}"),
               DataRepository(tmp_path / "b").init(), tmp_path)
    assert api.hits["/slow"] == 2


def test_connection_refused_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(SourceError, match=rf"127.0.0.1:{port}/x: cannot connect after 2 attempt\(s\)"):
        ingest(manifest(f"{{url: 'http://127.0.0.1:{port}/x', retries: 1, backoff_seconds: 0}}"),
               DataRepository(tmp_path / "r").init(), tmp_path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>maintenance</html>", "(page 1): response is not JSON"),
        ({"data": {"count": 3}}, "expected a list of records at 'data', got dict"),
    ],
)
def test_bad_responses_name_url_and_page(api: Api, tmp_path: Path, body: Any, message: str) -> None:
    @api.route("/odd")
    def odd(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {"Content-Type": "text/html"}, body

    with pytest.raises(SourceError) as info:
        ingest(manifest(f"{{url: {api.url}/odd, records: data}}"), DataRepository(tmp_path / "r").init(), tmp_path)
    assert f"{api.url}/odd" in str(info.value) and message in str(info.value)


def test_bad_records_are_quarantined_and_rows_reconcile(api: Api, tmp_path: Path) -> None:
    @api.route("/mixed")
    def mixed(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {}, [RECORDS[0], [1, 2], {"id": "seven", "name": "x", "at": "2026-10-01T00:00:00Z"},
                         "text", {"id": 9, "name": {"nested": True}, "at": "never"}, RECORDS[1]]

    repo = DataRepository(tmp_path / "r").init()
    result = ingest(manifest(f"{{url: {api.url}/mixed}}"), repo, tmp_path)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (6, 2, 4)
    reasons = " | ".join(repo.read_frame("quarantine", "items")["_reasons"])
    assert "page 1 item 2: expected a JSON object, got list" in reasons
    assert "page 1 item 4: expected a JSON object, got str" in reasons
    assert "id: expected int, got 'seven'" in reasons
    assert "name: expected str, got '{'nested': True}'" in reasons and "at: expected timestamp, got 'never'" in reasons


def test_an_empty_api_is_an_error(api: Api, tmp_path: Path) -> None:
    @api.route("/none")
    def none(query: dict[str, str], headers: dict[str, str]) -> Reply:
        return 200, {}, []

    with pytest.raises(SourceError, match="no records \\(empty source\\)"):
        ingest(manifest(f"{{url: {api.url}/none}}"), DataRepository(tmp_path / "r").init(), tmp_path)


def test_windows_ask_for_one_partition_at_a_time(api: Api, tmp_path: Path) -> None:
    """A backfill asks for exactly its interval; a run without one continues where the last stopped."""
    days = {f"2026-10-0{d}": [{"id": d * 10 + i, "name": "x", "at": f"2026-10-0{d}T0{i}:00:00Z"} for i in range(3)]
            for d in range(1, 7)}

    @api.route("/events")
    def events(query: dict[str, str], headers: dict[str, str]) -> Reply:
        since = datetime.fromisoformat(query["since"])
        until = datetime.fromisoformat(query["until"])
        rows = [r for day in days.values() for r in day
                if since <= datetime.fromisoformat(r["at"]) < until]
        return 200, {}, {"events": rows}

    loaded = manifest(f"""
      url: {api.url}/events
      records: events
      window: {{start_param: since, end_param: until, partition: day, earliest: 2026-10-01T00:00:00Z}}""")
    repo = DataRepository(tmp_path / "r").init()
    utc = UTC
    backfill = ingest(loaded, repo, tmp_path, window=Window(datetime(2026, 10, 3, tzinfo=utc),
                                                             datetime(2026, 10, 5, tzinfo=utc)))
    assert [q["since"] for _, q in api.requests] == ["2026-10-03T00:00:00Z", "2026-10-04T00:00:00Z"]
    assert backfill.rows_published == 6
    assert sorted(p.stem for p in repo.files("raw", "items")) == ["2026-10-03", "2026-10-04"]
    assert "cursor" not in source_state(repo, "t", "items")  # a backfill does not move the catch-up cursor

    api.requests.clear()
    catch_up = ingest(loaded, repo, tmp_path, run_id="r2", window=Window(None, datetime(2026, 10, 6, tzinfo=utc)))
    assert [q["since"][:10] for _, q in api.requests] == ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",
                                                          "2026-10-05"]
    assert (catch_up.units_ingested, catch_up.units_skipped, catch_up.rows_published) == (3, 2, 9)
    assert source_state(repo, "t", "items")["cursor"] == "2026-10-06T00:00:00+00:00"

    api.requests.clear()
    ingest(loaded, repo, tmp_path, run_id="r3", window=Window(None, datetime(2026, 10, 7, tzinfo=utc)))
    assert [q["since"][:10] for _, q in api.requests] == ["2026-10-06"]
    ids = sorted(repo.read_frame("raw", "items")["id"])
    assert ids == sorted(r["id"] for day in days.values() for r in day) and len(ids) == len(set(ids))


def test_credentials_come_from_the_connection_and_stay_out_of_the_repository(api: Api, tmp_path: Path) -> None:
    @api.route("/v1/secure")
    def secure(query: dict[str, str], headers: dict[str, str]) -> Reply:
        if headers.get("Authorization") != "Bearer s3cret-token":
            return 401, {}, {"error": "unauthorized"}
        return 200, {}, RECORDS

    loaded = manifest("{url: /v1/secure, conn_id: my_api}")
    repo = DataRepository(tmp_path / "r").init()
    clients = {"http": {"base_url": api.url, "headers": {"Authorization": "Bearer s3cret-token"}, "auth": None}}
    result = ingest(loaded, repo, tmp_path, clients=clients)
    assert result.rows_published == 7
    stored = (tmp_path / "r" / "changelog.jsonl").read_text() + repo.state_path("t").read_text()
    assert f"{api.url}/v1/secure" in stored and "s3cret" not in stored
    with pytest.raises(SourceError, match="HTTP 401"):
        ingest(loaded, DataRepository(tmp_path / "r2").init(), tmp_path, clients={"http": {"base_url": api.url}})


@pytest.mark.parametrize(
    ("location", "clients", "message"),
    [
        ("{url: /v1/items}", None, "is a path: give an absolute URL or a conn_id with a host"),
        ("{url: /v1/../admin, conn_id: c}", {"http": {"base_url": "http://127.0.0.1:9"}}, "escapes the connection"),
        ("{url: 'http://other.invalid/x', conn_id: c}", {"http": {"base_url": "http://127.0.0.1:9"}},
         "is not the host of connection 'c'"),
        ("{url: 'ftp://127.0.0.1/x'}", None, "is not http or https"),
    ],
)
def test_urls_cannot_leave_their_connection(tmp_path: Path, location: str, clients: Any, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        ingest(manifest(location), DataRepository(tmp_path / "r").init(), tmp_path, clients=clients)
