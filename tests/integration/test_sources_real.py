"""Sources against real servers: PostgreSQL and SQLite through an Airflow connection, S3 through
moto's server with credentials and endpoint from an Airflow AWS connection."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import SourceError
from datacentric.ingest import ingest_source
from datacentric.manifest import parse_manifest
from datacentric.repository import DataRepository

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
    assert {r.provenance["origin"] for r in repo.changelog()} == {
        f"s3://{bucket}/events/events-2026-10-01.parquet", f"s3://{bucket}/events/events-2026-10-02.parquet"}
    again = ingest_source(loaded, "events", repo, landing_root=tmp_path, run_id="r2", clients=clients)
    assert again.units_skipped == 2 and again.rows_in == 0
