"""Sources against real servers: PostgreSQL and SQLite through an Airflow connection, S3 through
moto's server with credentials and endpoint from an Airflow AWS connection."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source

pytestmark = pytest.mark.integration

SQL_MANIFEST = """\
name: t
sources:
  products:
    type: sql
    owner: me
    location: {{conn_id: {conn_id}, table: {table}}}
    keys: [product_id]
    columns:
      product_id: {{type: int, nullable: false}}
      title: {{type: str}}
      price: {{type: float}}
"""


@pytest.fixture
def airflow_conn(monkeypatch: pytest.MonkeyPatch):
    def add(conn_id: str, value: dict) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))

    return add


def _sql_roundtrip(url: str, conn: dict, airflow_conn, tmp_path: Path, conn_id: str) -> None:
    import sqlalchemy as sa
    from datacentric_airflow.hooks.repository import DataRepositoryHook

    table = f"products_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    pd.DataFrame({"product_id": [1, 2, 3], "title": ["a", "b", "c"], "price": [1.5, 2.5, None]}).to_sql(
        table, engine, index=False
    )
    try:
        airflow_conn(conn_id, conn)
        loaded = parse_manifest(SQL_MANIFEST.format(conn_id=conn_id, table=table))
        spec = loaded.spec.sources["products"]
        clients = DataRepositoryHook().source_clients(spec)
        repo = DataRepository(tmp_path / "repo").init()
        result = ingest_source(loaded, "products", repo, landing_root=tmp_path, run_id="r1", clients=clients)
        assert (result.rows_in, result.rows_published) == (3, 3)
        raw = repo.read_frame("raw", "products")
        assert list(raw["product_id"]) == [1, 2, 3] and raw["price"].isna().sum() == 1
        again = ingest_source(loaded, "products", repo, landing_root=tmp_path, run_id="r2", clients=clients)
        assert again.units_skipped == 1 and again.rows_in == 0
        # A table name is quoted, never spliced: a hostile name is just a missing table.
        hostile = parse_manifest(SQL_MANIFEST.format(conn_id=conn_id, table='"x; DROP TABLE y"'))
        with pytest.raises(SourceError, match="does not exist"):
            ingest_source(hostile, "products", repo, landing_root=tmp_path, run_id="r3", clients=clients)
        assert "password" not in json.dumps([r.provenance for r in repo.changelog()])
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


def test_sql_source_on_postgres(postgres_url: str, airflow_conn, tmp_path: Path) -> None:
    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    _sql_roundtrip(postgres_url, conn, airflow_conn, tmp_path, "catalog_pg")


def test_sql_source_on_sqlite(airflow_conn, tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    _sql_roundtrip(f"sqlite:///{db}", {"conn_type": "sqlite", "host": str(db)}, airflow_conn, tmp_path, "catalog_lite")


def test_s3_source_through_airflow_connection(s3_endpoint: str, airflow_conn, tmp_path: Path) -> None:
    import boto3
    from datacentric_airflow.hooks.repository import DataRepositoryHook

    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    for day in (1, 2):
        frame = pd.DataFrame({"event_id": [f"E{day}{i}" for i in range(5)], "qty": range(5),
                              "at": pd.to_datetime([f"2026-10-0{day}"] * 5, utc=True)})
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        s3.put_object(Bucket=bucket, Key=f"events/events-2026-10-0{day}.parquet", Body=buffer.getvalue())
    s3.put_object(Bucket=bucket, Key="events/_SUCCESS", Body=b"")
    airflow_conn("lake", {"conn_type": "aws", "login": "testing", "password": "testing",
                          "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}})
    loaded = parse_manifest(f"""\
name: t
sources:
  events:
    type: s3
    owner: me
    location: {{bucket: {bucket}, prefix: events/, pattern: "*.parquet", format: parquet, conn_id: lake}}
    keys: [event_id]
    columns:
      event_id: {{type: str, nullable: false}}
      qty: {{type: int}}
      at: {{type: timestamp}}
""")
    clients = DataRepositoryHook().source_clients(loaded.spec.sources["events"])
    repo = DataRepository(tmp_path / "repo").init()
    result = ingest_source(loaded, "events", repo, landing_root=tmp_path, run_id="r1", clients=clients)
    assert (result.units_seen, result.rows_in, result.rows_published) == (2, 10, 10)
    assert {r.provenance["origin"] for r in repo.changelog() if r.path.startswith("raw/")} == {
        f"s3://{bucket}/events/events-2026-10-01.parquet", f"s3://{bucket}/events/events-2026-10-02.parquet"}
    again = ingest_source(loaded, "events", repo, landing_root=tmp_path, run_id="r2", clients=clients)
    assert again.units_skipped == 2 and again.rows_in == 0


# -- incremental SQL, on both engines ------------------------------------------------------------

@pytest.fixture(params=["postgres", "sqlite"])
def sql_db(request: pytest.FixtureRequest, airflow_conn, tmp_path: Path):
    """(engine, conn_id, is_postgres): a real database reached through an Airflow connection."""
    import sqlalchemy as sa

    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    else:
        db = tmp_path / "shop.db"
        url, conn = f"sqlite:///{db}", {"conn_type": "sqlite", "host": str(db)}
    conn_id = f"shop_{request.param}"
    airflow_conn(conn_id, conn)
    engine = sa.create_engine(url)
    tables: list[sa.Table] = []
    try:
        yield engine, conn_id, request.param == "postgres", tables
    finally:
        with engine.begin() as c:
            for table in tables:
                table.drop(c, checkfirst=True)
        engine.dispose()


def _events_table(engine, is_pg: bool, tables: list, name: str | None = None, time_column: str = "happened_at",
                  id_column: str = "id"):
    import sqlalchemy as sa

    table = sa.Table(
        name or f"events_{uuid.uuid4().hex[:8]}", sa.MetaData(),
        sa.Column(id_column, sa.Integer, nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column(time_column, sa.DateTime(timezone=True) if is_pg else sa.Text),
    )
    with engine.begin() as c:
        table.create(c)
    tables.append(table)
    return table


def _insert(engine, table, is_pg: bool, rows: list[tuple[int, float, str]], time_column: str = "happened_at",
            id_column: str = "id") -> None:
    from datetime import datetime as dt

    values = [{id_column: i, "amount": a,
               time_column: dt.fromisoformat(at + "+00:00") if is_pg else at} for i, a, at in rows]
    with engine.begin() as c:
        c.execute(table.insert(), values)


def _incremental_manifest(conn_id: str, table: str, column: str, *, query: str | None = None,
                          time_column: str = "happened_at", id_column: str = "id") -> object:
    where = f"query: {json.dumps(query)}" if query else f"table: {json.dumps(table)}"
    return parse_manifest(f"""
name: t
sources:
  events:
    type: sql
    owner: me
    location: {{conn_id: {conn_id}, {where}, incremental_column: {json.dumps(column)}, partition: day}}
    keys: [{json.dumps(id_column)}]
    event_time: {json.dumps(time_column)}
    columns:
      {json.dumps(id_column)}: {{type: int, nullable: false}}
      amount: {{type: float}}
      {json.dumps(time_column)}: {{type: timestamp}}
""")


def _run(loaded, repo: DataRepository, tmp_path: Path, run_id: str, window=None):
    from datacentric_airflow.hooks.repository import DataRepositoryHook

    clients = DataRepositoryHook().source_clients(loaded.spec.sources["events"])
    result = ingest_source(loaded, "events", repo, landing_root=tmp_path, run_id=run_id, clients=clients,
                           window=window)
    assert result.rows_in == result.rows_published + result.rows_quarantined
    return result


def _day(d: int) -> datetime:
    return datetime(2026, 10, d, tzinfo=UTC)


def test_sql_time_partitions_catch_up_late_rows_and_backfill(sql_db, tmp_path: Path) -> None:
    from datacentric.repository.recovery import diff
    from datacentric.sources import Window
    from datacentric.sources.state import source_state

    engine, conn_id, is_pg, tables = sql_db
    table = _events_table(engine, is_pg, tables)
    rows = [(d * 10 + h, 1.0 * h, f"2026-10-0{d} 0{h}:00:00") for d in (1, 2, 3) for h in range(3)]
    _insert(engine, table, is_pg, rows)
    loaded = _incremental_manifest(conn_id, table.name, "happened_at")
    repo = DataRepository(tmp_path / "repo").init()

    first = _run(loaded, repo, tmp_path, "r1", Window(None, _day(3)))
    assert sorted(p.stem for p in repo.files("raw", "events")) == ["2026-10-01", "2026-10-02"]
    assert first.rows_published == 6
    assert source_state(repo, "t", "events")["cursor"].startswith("2026-10-02T02:00:00")

    # A late row for day 2, and days 3 and 4: the catch-up re-reads day 2, then takes days 3 and 4.
    _insert(engine, table, is_pg, [(29, 9.0, "2026-10-02 09:00:00"), (41, 4.0, "2026-10-04 01:00:00")])
    second = _run(loaded, repo, tmp_path, "r2", Window(None, _day(5)))
    assert second.units_ingested == 3 and second.rows_published == 4 + 3 + 1
    raw = repo.read_frame("raw", "events")
    assert sorted(raw["id"]) == sorted([d * 10 + h for d in (1, 2, 3) for h in range(3)] + [29, 41])
    replaced = [r for r in repo.changelog() if r.op == "replace" and r.path.startswith("raw/")]
    assert [r.path.rsplit("/", 1)[-1] for r in replaced] == ["2026-10-02.parquet"]

    log = (tmp_path / "repo" / "changelog.jsonl").read_bytes()
    _run(loaded, repo, tmp_path, "r3", Window(None, _day(5)))
    assert (tmp_path / "repo" / "changelog.jsonl").read_bytes() == log  # the same interval again: nothing new

    # A correction in day 1, then a backfill of exactly day 1: only that partition is replaced.
    with engine.begin() as c:
        c.execute(table.update().where(table.c.id == 11).values(amount=99.0))
    cursor = source_state(repo, "t", "events")["cursor"]
    backfill = _run(loaded, repo, tmp_path, "r4", Window(_day(1), _day(2)))
    assert (backfill.units_seen, backfill.units_ingested, backfill.rows_in) == (1, 1, 3)
    assert source_state(repo, "t", "events")["cursor"] == cursor
    change = diff(repo, "before:r4", "run:r4")["changes"]
    assert [(c["zone"], c["files_changed"], c["rows_added"], c["rows_removed"]) for c in change if c["zone"] == "raw"] \
        == [("raw", ["raw/events/" + table.name + "/2026-10-01.parquet"], 1, 1)]


def test_sql_query_with_an_id_watermark(sql_db, tmp_path: Path) -> None:
    from datacentric.sources.state import source_state

    engine, conn_id, is_pg, tables = sql_db
    table = _events_table(engine, is_pg, tables)
    _insert(engine, table, is_pg, [(i, float(i), f"2026-10-01 0{i}:00:00") for i in range(1, 4)])
    query = f'SELECT id, amount, happened_at FROM "{table.name}" WHERE amount >= 0'
    loaded = _incremental_manifest(conn_id, table.name, "id", query=query)
    repo = DataRepository(tmp_path / "repo").init()
    assert _run(loaded, repo, tmp_path, "r1").rows_published == 3
    _insert(engine, table, is_pg, [(i, float(i), f"2026-10-02 0{i}:00:00") for i in range(4, 7)])
    second = _run(loaded, repo, tmp_path, "r2")
    assert second.rows_published == 3
    assert sorted(p.stem for p in repo.files("raw", "events")) == ["after-3", "after-start"]
    assert source_state(repo, "t", "events")["cursor"] == 6
    third = _run(loaded, repo, tmp_path, "r3")
    assert (third.units_ingested, third.rows_in) == (0, 0)
    assert sorted(repo.read_frame("raw", "events")["id"]) == list(range(1, 7))


def test_sql_identifiers_are_quoted_never_spliced(sql_db, tmp_path: Path) -> None:
    engine, conn_id, is_pg, tables = sql_db
    name = f'odd "table" {uuid.uuid4().hex[:6]}'
    table = _events_table(engine, is_pg, tables, name=name, time_column="order", id_column="select")
    _insert(engine, table, is_pg, [(1, 1.0, "2026-10-01 01:00:00"), (2, 2.0, "2026-10-02 01:00:00")],
            time_column="order", id_column="select")
    loaded = _incremental_manifest(conn_id, name, "order", time_column="order", id_column="select")
    repo = DataRepository(tmp_path / "repo").init()
    result = _run(loaded, repo, tmp_path, "r1")
    assert result.rows_published == 2 and set(repo.read_frame("raw", "events")["select"]) == {1, 2}
    hostile = _incremental_manifest(conn_id, name, "order; DROP TABLE x", time_column="order; DROP TABLE x",
                                    id_column="select")
    with pytest.raises(SourceError, match="incremental column 'order; DROP TABLE x' not found"):
        _run(hostile, repo, tmp_path, "r2")


def test_sql_errors_name_the_source(sql_db, tmp_path: Path) -> None:
    engine, conn_id, is_pg, tables = sql_db
    table = _events_table(engine, is_pg, tables)
    repo = DataRepository(tmp_path / "repo").init()
    broken = _incremental_manifest(conn_id, table.name, "id", query="SELEC id FROM nowhere")
    with pytest.raises(SourceError, match=r"source 'events': .*query.*(syntax|SELEC)"):
        _run(broken, repo, tmp_path, "r1")
    with pytest.raises(SourceError, match=r"no rows with a value in 'happened_at' \(empty source\)"):
        _run(_incremental_manifest(conn_id, table.name, "happened_at"), repo, tmp_path, "r2")


def test_s3_windows_bad_rows_and_a_missing_bucket(s3_endpoint: str, airflow_conn, tmp_path: Path) -> None:
    import boto3
    from datacentric.sources import Window
    from datacentric_airflow.hooks.repository import DataRepositoryHook

    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    for day in (1, 2, 3):
        body = f"order_id,amount\n{day}1,1.5\n{day}2,lots\n{day}3\n".encode()
        s3.put_object(Bucket=bucket, Key=f"orders/dt=2026-10-0{day}/part-0.csv", Body=body)
    airflow_conn("lake2", {"conn_type": "aws", "login": "testing", "password": "testing",
                           "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}})
    text = f"""\
name: t
sources:
  orders:
    type: s3
    owner: me
    location: {{bucket: {bucket}, prefix: orders/, pattern: "*/*.csv", format: csv, conn_id: lake2,
               date_in_name: "dt=%Y-%m-%d"}}
    keys: [order_id]
    columns:
      order_id: {{type: int, nullable: false}}
      amount: {{type: float}}
"""
    loaded = parse_manifest(text)
    clients = DataRepositoryHook().source_clients(loaded.spec.sources["orders"])
    repo = DataRepository(tmp_path / "repo").init()
    window = Window(datetime(2026, 10, 2, tzinfo=UTC), datetime(2026, 10, 3, tzinfo=UTC))
    result = ingest_source(loaded, "orders", repo, landing_root=tmp_path, run_id="r1", clients=clients, window=window)
    assert (result.units_seen, result.rows_in, result.rows_published, result.rows_quarantined) == (1, 3, 1, 2)
    assert [repo.relative(p) for p in repo.files("raw", "orders")] == ["raw/orders/dt=2026-10-02/part-0.parquet"]
    reasons = sorted(repo.read_frame("quarantine", "orders")["_reasons"])
    assert reasons == ["amount: expected float, got 'lots'", "line 4: 1 fields, header has 2"]

    missing = parse_manifest(text.replace(bucket, f"{bucket}-gone"))
    with pytest.raises(SourceError, match=rf"s3://{bucket}-gone/orders/\*/\*.csv: cannot list objects .*NoSuchBucket"):
        ingest_source(missing, "orders", repo, landing_root=tmp_path, run_id="r2", clients=clients)
