"""Real local servers for the integration tests. A server that is not running is a failure, not a skip:
.ci/run starts PostgreSQL and Redis; moto's S3 server is started here, in-process, on a free port."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

POSTGRES_URL = os.environ.get("DATACENTRIC_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DATACENTRIC_TEST_REDIS", "redis://127.0.0.1:6379/15")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server mode (real HTTP on loopback), the AWS provider's own testing convention."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (start it; .ci/run does): {exc}")
    finally:
        engine.dispose()
    return POSTGRES_URL
