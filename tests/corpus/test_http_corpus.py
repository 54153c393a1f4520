"""Bad input for the http source, each case with the outcome it must have: the error it names, or the
rows it publishes and quarantines. The API is a real HTTP server on loopback (http.server in a thread);
a second server stands for another host."""

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
from datacentric.errors import InputError, SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources import Window
from datacentric.sources.ingest import ingest_source

Handler = Callable[[BaseHTTPRequestHandler, dict[str, str]], None]


@dataclass
class Server:
    url: str
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)  # path, query, headers

    def route(self, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[path] = handler
            return handler

        return register

    def json(self, path: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.routes[path] = lambda h, q: send(h, status, body, headers)


def send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h.send_response(status)
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _serve() -> Iterator[Server]:
    state = Server(url="")

    class Handle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state.requests.append((parts.path, query, dict(self.headers)))
            handler = state.routes.get(parts.path)
            try:
                if handler is None:
                    send(self, 404, {"error": "no such route"})
                else:
                    handler(self, query)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    """Another host: same loopback address, named `localhost`, so its host:port differs from the API's."""
    for server in _serve():
        server.url = server.url.replace("127.0.0.1", "localhost")
        yield server


def manifest(location: str, columns: str = "") -> Any:
    columns = columns or """
      id: {type: int, nullable: false}
      name: {type: str}"""
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


def ingest(loaded: Any, tmp_path: Path, run_id: str = "r1", repo: DataRepository | None = None,
           clients: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    repo = repo or DataRepository(tmp_path / "repo").init()
    result = ingest_source(loaded, "items", repo, landing_root=tmp_path, run_id=run_id, clients=clients, **kwargs)
    assert result.rows_in == result.rows_published + result.rows_quarantined
    return result


CREDENTIALS = {"http": {"auth": ["reader", "s3cret"], "headers": {"X-Api-Key": "k-123"}}}
RECORDS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def _redirect(to: str, status: int = 302) -> Handler:
    return lambda h, q: send(h, status, b"", {"Location": to})


# -- 1. redirects ---------------------------------------------------------------------------------------

def test_redirect_to_another_host_is_refused_naming_both_hosts(api: Server, elsewhere: Server,
                                                                tmp_path: Path) -> None:
    api.routes["/items"] = _redirect(f"{elsewhere.url}/items")
    elsewhere.json("/items", RECORDS)
    loaded = manifest(f"{{url: {api.url}/items}}")
    a, b = urlsplit(api.url).netloc, urlsplit(elsewhere.url).netloc
    with pytest.raises(InputError, match=rf"source 'items': .*redirected from host '{a}' to another host '{b}'"
                                         r".*location.redirect_hosts") as caught:
        ingest(loaded, tmp_path, clients=CREDENTIALS)
    assert isinstance(caught.value, SourceError)
    assert elsewhere.requests == []  # the credentials never left for the other host


def test_redirect_to_an_allowed_host_is_followed_with_the_credentials(api: Server, elsewhere: Server,
                                                                      tmp_path: Path) -> None:
    api.routes["/items"] = _redirect(f"{elsewhere.url}/v2/items", 307)
    elsewhere.json("/v2/items", RECORDS)
    loaded = manifest(f"{{url: {api.url}/items, redirect_hosts: [localhost]}}")
    result = ingest(loaded, tmp_path, clients=CREDENTIALS)
    assert (result.rows_in, result.rows_published) == (2, 2)
    assert elsewhere.requests[0][2]["X-Api-Key"] == "k-123"


def test_redirect_on_the_same_host_is_followed(api: Server, tmp_path: Path) -> None:
    api.routes["/items"] = _redirect("/v2/items", 301)
    api.json("/v2/items", RECORDS)
    result = ingest(manifest(f"{{url: {api.url}/items}}"), tmp_path, clients=CREDENTIALS)
    assert result.rows_published == 2
    assert [r[2].get("X-Api-Key") for r in api.requests] == ["k-123", "k-123"]


def test_redirect_to_another_scheme_is_refused(api: Server, tmp_path: Path) -> None:
    api.routes["/items"] = _redirect("ftp://files.example/items.json")
    with pytest.raises(InputError, match=r"redirected to ftp://files.example/items.json: scheme 'ftp' is not http"):
        ingest(manifest(f"{{url: {api.url}/items}}"), tmp_path)


def test_a_redirect_loop_stops_after_ten_redirects(api: Server, tmp_path: Path) -> None:
    api.routes["/a"] = _redirect("/b")
    api.routes["/b"] = _redirect("/a")
    with pytest.raises(InputError, match=r"/a: more than 10 redirects"):
        ingest(manifest(f"{{url: {api.url}/a}}"), tmp_path)


# -- 2. a total deadline ----------------------------------------------------------------------------------

def _trickle(h: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
    data = json.dumps(RECORDS).encode()
    h.send_response(200)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    for byte in data:  # one byte every half second: each read is well within timeout_seconds
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.5)


def test_a_trickled_body_stops_at_the_deadline(api: Server, tmp_path: Path) -> None:
    api.routes["/items"] = _trickle
    loaded = manifest(f"{{url: {api.url}/items, timeout_seconds: 3, deadline_seconds: 1.5, retries: 0}}")
    with pytest.raises(SourceError, match=r"/items: the request took longer than location.deadline_seconds \(1.5s\), "
                                          r"\d+ byte\(s\) of the body received; stopped \(timeout_seconds, 3s"):
        ingest(loaded, tmp_path)


def test_retries_stop_at_the_deadline(api: Server, tmp_path: Path) -> None:
    api.json("/items", {"error": "down"}, status=503)
    loaded = manifest(f"{{url: {api.url}/items, retries: 20, backoff_seconds: 0.2, deadline_seconds: 1}}")
    with pytest.raises(SourceError, match=r"/items: the request took longer than location.deadline_seconds \(1s\)"):
        ingest(loaded, tmp_path)
    assert 1 < len(api.requests) < 21


def test_a_truncated_body_is_an_error_not_a_short_page(api: Server, tmp_path: Path) -> None:
    def short(h: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b'[{"id": 1}')
        h.close_connection = True

    api.routes["/items"] = short
    with pytest.raises(SourceError, match=r"/items: the body could not be read: .*(IncompleteRead|ProtocolError)"):
        ingest(manifest(f"{{url: {api.url}/items, retries: 0}}"), tmp_path)


# -- 3. pagination loops ----------------------------------------------------------------------------------

def test_a_next_link_back_to_an_earlier_page_is_a_loop(api: Server, tmp_path: Path) -> None:
    api.json("/p1", {"data": RECORDS[:1], "next": "/p2"})
    api.json("/p2", {"data": RECORDS[1:], "next": "/p1"})
    loaded = manifest(f"{{url: {api.url}/p1, records: data, pagination: {{style: link, next_path: next}}}}")
    with pytest.raises(InputError, match=rf"/p2 \(page 2\): pagination loops: the next link {api.url}/p1 was already "
                                         r"fetched \(page 1\)"):
        ingest(loaded, tmp_path)
    assert len(api.requests) == 2  # not max_pages requests


def test_a_cursor_seen_before_is_a_loop(api: Server, tmp_path: Path) -> None:
    cursors = {"": "a", "a": "b", "b": "a"}
    api.routes["/feed"] = lambda h, q: send(h, 200, {"items": RECORDS, "next": cursors[q.get("cursor", "")]})
    loaded = manifest(f"{{url: {api.url}/feed, records: items, pagination: {{style: cursor, cursor_path: next}}}}")
    with pytest.raises(InputError, match=r"\(page 3\): pagination loops: the API returned cursor 'a' again "
                                         r"\(first given by page 1\)"):
        ingest(loaded, tmp_path)
    assert len(api.requests) == 3


def test_pages_that_ignore_the_page_parameter_are_a_loop(api: Server, tmp_path: Path) -> None:
    api.json("/items", RECORDS)  # the same two records whatever ?page= says
    loaded = manifest(f"{{url: {api.url}/items, pagination: {{style: page, size_param: n, page_size: 2}}}}")
    with pytest.raises(InputError, match=r"\(page 2\): page 2 holds the same 2 record\(s\) as page 1: the API ignores "
                                         r"'page' \(pagination.page_param\)"):
        ingest(loaded, tmp_path)
    assert len(api.requests) == 2


# -- 4. Retry-After ---------------------------------------------------------------------------------------

def test_a_retry_after_of_a_day_is_not_waited_for(api: Server, tmp_path: Path) -> None:
    api.json("/items", {"error": "busy"}, status=503, headers={"Retry-After": "100000"})
    loaded = manifest(f"{{url: {api.url}/items, retries: 3}}")
    with pytest.raises(SourceError, match=r"/items: HTTP 503: the server asks to wait \(Retry-After: 100000\), "
                       r"longer than location.max_retry_after_seconds \(300s\); not waited for") as caught:
        ingest(loaded, tmp_path)
    assert not isinstance(caught.value, InputError)  # retryable: the task may try again later
    assert len(api.requests) == 1


def test_a_retry_after_date_far_ahead_is_not_waited_for(api: Server, tmp_path: Path) -> None:
    api.json("/items", {}, status=429, headers={"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"})
    loaded = manifest(f"{{url: {api.url}/items, max_retry_after_seconds: 60}}")
    with pytest.raises(SourceError, match=r"HTTP 429: the server asks to wait \(Retry-After: Fri, 01 Jan 2100 "
                       r"00:00:00 GMT\), longer than location.max_retry_after_seconds \(60s\)"):
        ingest(loaded, tmp_path)


def test_a_short_retry_after_is_waited_for_then_read(api: Server, tmp_path: Path) -> None:
    calls = []

    def busy_once(h: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        calls.append(1)
        if len(calls) == 1:
            send(h, 503, {}, {"Retry-After": "1"})
        else:
            send(h, 200, RECORDS)

    api.routes["/items"] = busy_once
    result = ingest(manifest(f"{{url: {api.url}/items}}"), tmp_path)
    assert (len(calls), result.rows_published) == (2, 2)


# -- 5. records that change after delivery -----------------------------------------------------------------

TIMED = """
      id: {type: int, nullable: false}
      name: {type: str}
      updated: {type: timestamp}"""


def test_the_latest_version_of_a_record_wins_by_updated_at(api: Server, tmp_path: Path) -> None:
    # Record 1 changed while the pages were read: page 2 carries its newer version, page 1 the older one.
    api.json("/p1", {"data": [{"id": 1, "name": "old", "updated": "2026-10-01T10:00:00Z"},
                              {"id": 2, "name": "b", "updated": "2026-10-01T09:00:00Z"}], "next": "/p2"})
    api.json("/p2", {"data": [{"id": 3, "name": "c", "updated": "2026-10-01T08:00:00Z"},
                              {"id": 1, "name": "new", "updated": "2026-10-01T11:00:00+00:00"}]})
    loaded = manifest(f"{{url: {api.url}/p1, records: data, updated_at: updated, "
                      f"pagination: {{style: link, next_path: next}}}}", TIMED)
    repo = DataRepository(tmp_path / "repo").init()
    result = ingest(loaded, tmp_path, repo=repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 3, 0)
    raw = repo.read_frame("raw", "items").set_index("id")
    assert raw.loc[1, "name"] == "new" and sorted(raw.index) == [1, 2, 3]


def test_an_updated_at_column_no_record_has_is_an_error(api: Server, tmp_path: Path) -> None:
    api.json("/items", RECORDS)
    with pytest.raises(InputError, match=r"no record has location.updated_at column 'modified' \(fields: id, name\)"):
        ingest(manifest(f"{{url: {api.url}/items, updated_at: modified}}"), tmp_path)


def test_a_lookback_reads_late_and_changed_records_of_earlier_partitions(api: Server, tmp_path: Path) -> None:
    days: dict[str, list[dict[str, Any]]] = {
        "2026-10-01": [{"id": 1, "name": "a", "updated": "2026-10-01T10:00:00Z"}],
        "2026-10-02": [{"id": 2, "name": "b", "updated": "2026-10-02T10:00:00Z"}],
    }
    api.routes["/events"] = lambda h, q: send(h, 200, days.get(q["from"][:10], []))
    loaded = manifest(f"""{{url: {api.url}/events, updated_at: updated, window: {{start_param: from, end_param: to,
        earliest: "2026-10-01T00:00:00Z", lookback: 1}}}}""", TIMED)
    repo = DataRepository(tmp_path / "repo").init()
    first = ingest(loaded, tmp_path, repo=repo, window=Window(None, datetime(2026, 10, 3, tzinfo=UTC)))
    assert first.rows_published == 2
    # After the run: record 2 changed, and a late record 3 arrived, both dated in the day already read.
    days["2026-10-02"] = [{"id": 2, "name": "b2", "updated": "2026-10-03T01:00:00Z"},
                          {"id": 3, "name": "late", "updated": "2026-10-02T23:00:00Z"}]
    days["2026-10-03"] = [{"id": 4, "name": "d", "updated": "2026-10-03T10:00:00Z"}]
    asked = len(api.requests)
    again = ingest(loaded, tmp_path, "r2", repo=repo, window=Window(None, datetime(2026, 10, 4, tzinfo=UTC)))
    assert [q["from"][:10] for _, q, _ in api.requests[asked:]] == ["2026-10-02", "2026-10-03"]
    assert (again.rows_in, again.rows_published) == (3, 3)
    raw = repo.read_frame("raw", "items").set_index("id")
    assert sorted(raw.index) == [1, 2, 3, 4] and raw.loc[2, "name"] == "b2"


# -- bodies that are not what the manifest says ------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    (b"<html>maintenance</html>", r"response is not JSON \(Content-Type unknown\): '<html>maintenance</html>'"),
    ({"data": {"id": 1}}, r"expected a list of records at 'data', got dict"),
    ({"other": []}, r"expected a list of records at 'data', got NoneType"),
])
def test_bodies_that_are_not_records_name_url_and_page(api: Server, tmp_path: Path, body: Any, message: str) -> None:
    api.json("/items", body)
    with pytest.raises(SourceError, match=rf"/items \(page 1\): {message}"):
        ingest(manifest(f"{{url: {api.url}/items, records: data}}"), tmp_path)


def test_records_that_are_not_objects_are_quarantined_with_their_page(api: Server, tmp_path: Path) -> None:
    api.json("/items", [{"id": 1, "name": "a"}, 7, ["x"], {"id": "two", "name": "b"}])
    repo = DataRepository(tmp_path / "repo").init()
    result = ingest(manifest(f"{{url: {api.url}/items}}"), tmp_path, repo=repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (4, 1, 3)
    reasons = sorted(repo.read_frame("quarantine", "items")["_reasons"])
    assert reasons == ["id: expected int, got 'two'", "page 1 item 2: expected a JSON object, got int",
                       "page 1 item 3: expected a JSON object, got list"]
