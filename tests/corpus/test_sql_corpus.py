"""Bad input for the sql source, each case with the outcome it must have: the error it names, or the
rows it publishes and quarantines with their reasons. Databases are real: SQLite files under the landing
root and the local PostgreSQL (a server that is not running is a failure, never a skip)."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from datacentric.errors import InputError, SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources import Window
from datacentric.sources.ingest import ingest_source

POSTGRES_URL = os.environ.get("DATACENTRIC_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def manifest(url: str, table: str, column: str | None, *, partition: str = "day",
             time_type: str = "timestamp") -> Any:
    incremental = f", incremental_column: {column}, partition: {partition}" if column else ""
    return parse_manifest(f"""
name: t
sources:
  events:
    type: sql
    owner: me
    location: {{url: {json.dumps(url)}, table: {table}{incremental}}}
    keys: [id]
    columns:
      id: {{type: int}}
      amount: {{type: float}}
      at: {{type: {time_type}}}
""")


def run(loaded: Any, tmp_path: Path, repo: DataRepository, run_id: str = "r1", window: Window | None = None) -> Any:
    result = ingest_source(loaded, "events", repo, landing_root=tmp_path, run_id=run_id, window=window)
    assert result.rows_in == result.rows_published + result.rows_quarantined
    return result


@pytest.fixture
def repo(tmp_path: Path) -> DataRepository:
    return DataRepository(tmp_path / "repo").init()


def sqlite_db(tmp_path: Path, rows: list[tuple[Any, Any, Any]], declared: str = "TEXT") -> str:
    """A SQLite file under the landing root with table events(id, amount, at <declared>)."""
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        conn.execute(f"CREATE TABLE events (id INTEGER, amount REAL, at {declared})")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
    conn.close()
    return "sqlite:///{landing}/shop.db"


def quarantine(repo: DataRepository) -> list[str]:
    return sorted(repo.read_frame("quarantine", "events")["_reasons"])


def raw_files(repo: DataRepository) -> list[str]:
    return sorted(repo.relative(p) for p in repo.files("raw", "events"))


def raw_ids(repo: DataRepository, unit: str) -> list[int]:
    return sorted(pd.read_parquet(repo.path("raw", f"events/{unit}.parquet"))["id"])


# -- 6. NULL in the incremental column ----------------------------------------------------------------------

def test_null_times_are_quarantined_with_a_reason(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00"), (2, 2.0, None), (3, 3.0, "2026-10-02 10:00:00")])
    result = run(manifest(url, "events", "at"), tmp_path, repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 2, 1)
    assert quarantine(repo) == ["at: null; the row has no place in any partition"]
    assert json.loads(repo.read_frame("quarantine", "events")["_record"][0])["id"] == 2


def test_null_ids_under_a_watermark_are_quarantined(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "a"), (None, 2.0, "b"), (3, 3.0, "c")])
    loaded = manifest(url, "events", "id", time_type="str")
    result = run(loaded, tmp_path, repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 2, 1)
    assert quarantine(repo) == ["id: null; the row has no place above or below the watermark"]


def test_unplaced_rows_are_not_quarantined_twice(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00"), (2, 2.0, None)])
    loaded = manifest(url, "events", "at")
    run(loaded, tmp_path, repo)
    again = run(loaded, tmp_path, repo, "r2")
    assert (again.rows_in, again.rows_quarantined) == (0, 0) and again.units_skipped >= 1
    assert quarantine(repo) == ["at: null; the row has no place in any partition"]


# -- 7. SQLite text times: other layouts, offsets ------------------------------------------------------------

NOT_ISO = "is not an ISO 8601 time (YYYY-MM-DD[ HH:MM[:SS]][Z|+HH:MM]); the row has no partition"


@pytest.mark.parametrize("value", ["10/02/2026 10:00", "20261003", "2026-13-45 10:00:00", "yesterday"])
def test_times_in_other_layouts_are_quarantined_with_the_value(tmp_path: Path, repo: DataRepository,
                                                               value: str) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00"), (2, 2.0, value)])
    result = run(manifest(url, "events", "at"), tmp_path, repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (2, 1, 1)
    assert quarantine(repo) == [f"at: '{value}' {NOT_ISO}"]


def test_a_number_in_a_time_column_is_quarantined(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00"), (2, 2.0, 1759300000)])
    result = run(manifest(url, "events", "at"), tmp_path, repo)
    assert (result.rows_published, result.rows_quarantined) == (1, 1)
    assert quarantine(repo) == [f"at: '1759300000' {NOT_ISO}"]


def test_offsets_file_rows_in_the_partition_of_their_utc_time(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [
        (1, 1.0, "2026-10-02T22:00:00-05:00"),  # 2026-10-03 03:00 UTC
        (2, 2.0, "2026-10-03T01:30:00+02:00"),  # 2026-10-02 23:30 UTC
        (3, 3.0, "2026-10-02 12:00:00Z"),
        (4, 4.0, "2026-10-03"),
    ])
    result = run(manifest(url, "events", "at"), tmp_path, repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (4, 4, 0)
    assert raw_files(repo) == ["raw/events/events/2026-10-02.parquet", "raw/events/events/2026-10-03.parquet"]
    assert raw_ids(repo, "events/2026-10-02") == [2, 3] and raw_ids(repo, "events/2026-10-03") == [1, 4]
    day3 = pd.read_parquet(repo.path("raw", "events/events/2026-10-03.parquet")).set_index("id")
    assert str(day3.loc[1, "at"]) == "2026-10-03 03:00:00+00:00"


def test_a_window_takes_the_rows_of_its_utc_day(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-02T22:00:00-05:00"), (2, 2.0, "2026-10-02T10:00:00Z")])
    window = Window(datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC))
    result = run(manifest(url, "events", "at"), tmp_path, repo, window=window)
    assert result.rows_published == 1
    assert raw_ids(repo, "events/2026-10-03") == [1]


def test_a_declared_datetime_column_with_odd_text_is_read_not_a_traceback(tmp_path: Path,
                                                                          repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01T10:00:00+00:00"), (2, 2.0, "01.10.2026")], declared="DATETIME")
    result = run(manifest(url, "events", "at"), tmp_path, repo)
    assert (result.rows_published, result.rows_quarantined) == (1, 1)
    assert quarantine(repo) == [f"at: '01.10.2026' {NOT_ISO}"]


# -- 8. SQLite files are confined to the landing root and never created ------------------------------------

def test_a_sqlite_file_outside_the_landing_root_is_refused_and_not_created(tmp_path: Path,
                                                                           repo: DataRepository) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    outside = tmp_path / "elsewhere.db"
    loaded = manifest(f"sqlite:///{outside}", "events", None)
    with pytest.raises(InputError, match=rf"source 'events': location.url: SQLite file {outside} is outside the "
                                         rf"landing root {landing}"):
        ingest_source(loaded, "events", repo, landing_root=landing, run_id="r1")
    assert not outside.exists()


def test_a_relative_path_that_climbs_out_is_refused(tmp_path: Path, repo: DataRepository) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    loaded = manifest("sqlite:///../up.db", "events", None)
    with pytest.raises(InputError, match=r"is outside the landing root"):
        ingest_source(loaded, "events", repo, landing_root=landing, run_id="r1")
    assert not (tmp_path / "up.db").exists()


def test_a_missing_sqlite_file_is_an_error_and_not_created(tmp_path: Path, repo: DataRepository) -> None:
    loaded = manifest("sqlite:///{landing}/typo.db", "events", None)
    with pytest.raises(InputError, match=r"location.url: SQLite file .*typo.db does not exist; a source is only "
                                         r"read, never created"):
        run(loaded, tmp_path, repo)
    assert not (tmp_path / "typo.db").exists()


def test_a_sqlite_url_naming_a_folder_is_an_error(tmp_path: Path, repo: DataRepository) -> None:
    (tmp_path / "data.db").mkdir()
    with pytest.raises(InputError, match=r"SQLite file .*data.db is a folder"):
        run(manifest("sqlite:///data.db", "events", None), tmp_path, repo)


def test_a_relative_sqlite_path_is_under_the_landing_root(tmp_path: Path, repo: DataRepository) -> None:
    sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00")])
    result = run(manifest("sqlite:///shop.db", "events", None), tmp_path, repo)
    assert result.rows_published == 1


def test_a_missing_table_names_it(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00")])
    with pytest.raises(SourceError, match=r"shop.db#table orders: table 'orders' does not exist"):
        run(manifest(url, "orders", "at"), tmp_path, repo)


# -- PostgreSQL ---------------------------------------------------------------------------------------------

@pytest.fixture
def pg_table() -> Iterator[tuple[Any, str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    name = f"events_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {name} (id integer, amount float, at timestamptz)"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (start it; .ci/run does): {exc}")
    try:
        yield engine, name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def _pg_insert(engine: Any, table: str, rows: list[tuple[Any, Any, Any]]) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (:id, :amount, :at)"),
                     [{"id": i, "amount": a, "at": t} for i, a, t in rows])


def test_postgres_null_times_are_quarantined(pg_table: tuple[Any, str], tmp_path: Path,
                                             repo: DataRepository) -> None:
    engine, table = pg_table
    _pg_insert(engine, table, [(1, 1.0, "2026-10-02T22:00:00-05:00"), (2, 2.0, None), (3, 3.0, "2026-10-02T01:00Z")])
    result = run(manifest(POSTGRES_URL, table, "at"), tmp_path, repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 2, 1)
    assert quarantine(repo) == ["at: null; the row has no place in any partition"]
    # The unplaced unit keeps its mark in raw (no rows) so that a re-run skips it.
    names = ("2026-10-02", "2026-10-03", "unplaced")
    assert raw_files(repo) == [f"raw/events/{table}/{name}.parquet" for name in names]
    assert raw_ids(repo, f"{table}/2026-10-02") == [3] and raw_ids(repo, f"{table}/unplaced") == []


def test_postgres_null_ids_under_a_watermark_are_quarantined_and_new_rows_follow(
    pg_table: tuple[Any, str], tmp_path: Path, repo: DataRepository,
) -> None:
    engine, table = pg_table
    _pg_insert(engine, table, [(1, 1.0, None), (None, 2.0, None)])
    loaded = manifest(POSTGRES_URL, table, "id")
    first = run(loaded, tmp_path, repo)
    assert (first.rows_in, first.rows_published, first.rows_quarantined) == (2, 1, 1)
    _pg_insert(engine, table, [(2, 3.0, None)])
    second = run(loaded, tmp_path, repo, "r2")
    assert (second.rows_in, second.rows_published, second.rows_quarantined) == (1, 1, 0)
    assert quarantine(repo) == ["id: null; the row has no place above or below the watermark"]


def test_a_query_source_quarantines_its_unplaced_rows_too(tmp_path: Path, repo: DataRepository) -> None:
    url = sqlite_db(tmp_path, [(1, 1.0, "2026-10-01 10:00:00"), (2, 2.0, None), (3, 3.0, "01/10/2026")])
    loaded = parse_manifest(f"""
name: t
sources:
  events:
    type: sql
    owner: me
    location: {{url: "{url}", query: "SELECT id, amount, at FROM events WHERE amount > 0", incremental_column: at}}
    keys: [id]
    columns: {{id: {{type: int}}, amount: {{type: float}}, at: {{type: timestamp}}}}
""")
    result = run(loaded, tmp_path, repo)
    assert (result.rows_in, result.rows_published, result.rows_quarantined) == (3, 1, 2)
    assert quarantine(repo) == [f"at: '01/10/2026' {NOT_ISO}", "at: null; the row has no place in any partition"]
    assert raw_files(repo) == ["raw/events/query/2026-10-01.parquet", "raw/events/query/unplaced.parquet"]
