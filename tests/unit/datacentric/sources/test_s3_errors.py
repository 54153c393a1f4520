"""S3 failures as a user reads them: an error naming the bucket and key, the service's code and what to
do, never a botocore traceback. S3 is moto's server mode (real HTTP on loopback), started here."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from datacentric.errors import InputError, SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def bucket(endpoint: str) -> str:
    name = f"landing-{uuid.uuid4().hex[:8]}"
    s3 = client(endpoint)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="orders/a.csv", Body=b"id\n1\n2\n")
    return name


def manifest(bucket: str, fmt: str = "csv", pattern: str = "*.csv") -> Any:
    return parse_manifest(f"""
name: t
sources:
  orders:
    type: s3
    owner: me
    location: {{bucket: "{bucket}", prefix: orders/, pattern: "{pattern}", format: {fmt}, conn_id: lake}}
    keys: [id]
    columns: {{id: {{type: int}}}}
""")


def ingest(loaded: Any, tmp_path: Path, s3: Any) -> Any:
    repo = DataRepository(tmp_path / "repo").init()
    return ingest_source(loaded, "orders", repo, landing_root=tmp_path, run_id="r1", clients={"s3": s3})


def test_a_missing_bucket_names_it_and_is_not_retried(endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"source 'orders': s3://no-such-bucket-x/orders/\*.csv: cannot list objects "
                                         r"\(NoSuchBucket: bucket 'no-such-bucket-x' does not exist at the endpoint of "
                                         r"connection 'lake'"):
        ingest(manifest("no-such-bucket-x"), tmp_path, client(endpoint))


def test_an_invalid_bucket_name_is_an_input_error(endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"s3://bad/name/orders/\*.csv: cannot list objects \(Invalid bucket name "
                                         r"\"bad/name\".*check location.bucket 'bad/name'"):
        ingest(manifest("bad/name"), tmp_path, client(endpoint))


def test_an_endpoint_that_is_down_is_retryable_and_says_so(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(SourceError, match=rf"cannot list objects \(cannot reach the S3 endpoint {down} of connection "
                                          r"'lake': is it running, is the endpoint right\?\)") as caught:
        ingest(manifest("landing-x"), tmp_path, client(down))
    assert not isinstance(caught.value, InputError)


def test_an_object_gone_after_listing_names_the_key(endpoint: str, bucket: str, tmp_path: Path) -> None:
    s3 = client(endpoint)

    class DeletedMeanwhile:
        """The real client, but the object is deleted between the listing and the download."""

        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def get_object(self, **kwargs: Any) -> Any:
            s3.delete_object(**kwargs)
            return s3.get_object(**kwargs)

    with pytest.raises(SourceError, match=rf"s3://{bucket}/orders/a.csv: cannot download \(NoSuchKey: the object was "
                                          r"deleted or replaced after it was listed; the next run lists again\)"):
        ingest(manifest(bucket), tmp_path, DeletedMeanwhile())


def test_no_credentials_is_an_input_error_naming_the_connection(endpoint: str, bucket: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    anonymous = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
    with pytest.raises(InputError, match=rf"s3://{bucket}/orders/\*.csv: cannot list objects \(no AWS credentials: "
                                         r"connection 'lake' has none, nor the environment\)"):
        ingest(manifest(bucket), tmp_path, anonymous)


def test_an_object_in_another_format_names_its_key(endpoint: str, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=rf"s3://{bucket}/orders/a.csv: not a readable Parquet file"):
        ingest(manifest(bucket, "parquet"), tmp_path, client(endpoint))


def test_objects_without_an_etag_get_size_and_time_as_identity() -> None:
    from datetime import UTC, datetime

    from datacentric.sources.s3 import _identity

    when = datetime(2026, 10, 1, tzinfo=UTC)
    assert _identity({"ETag": '"abc"', "Size": 3, "LastModified": when}) == "abc"
    assert _identity({"Size": 3, "LastModified": when}) == f"3-{when}"
    assert _identity({}) is None


def test_compressed_objects_are_read_by_their_extension(endpoint: str, bucket: str, tmp_path: Path) -> None:
    import gzip

    s3 = client(endpoint)
    s3.put_object(Bucket=bucket, Key="orders/a.csv.gz", Body=gzip.compress(b"id\n1\n2\n3\n"))
    s3.put_object(Bucket=bucket, Key="orders/b.csv.gz", Body=b"id\n4\n")  # named .gz, but not gzip
    result = ingest(manifest(bucket, pattern="a.csv.gz"), tmp_path, s3)
    assert (result.rows_in, result.rows_published) == (3, 3)
    with pytest.raises(InputError, match=r"s3://.*/orders/b.csv.gz: not a readable gzip file"):
        ingest(manifest(bucket, pattern="b.csv.gz"), tmp_path / "second", s3)
