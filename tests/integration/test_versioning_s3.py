"""Snapshots pushed to an S3 DVC remote (dvc-s3) on moto's S3 server, restores pulled from it, and
retention on it. The endpoint and credentials live in DVC's local config only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
from datacentric.versioning.retention import RetentionPolicy, collect
from datacentric.versioning.versioner import Versioner

pytestmark = pytest.mark.integration


def _write(root: Path, relpath: str, data: bytes) -> None:
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"dvc-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def _keys(s3_endpoint: str, bucket: str) -> set[str]:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def _config(s3_endpoint: str) -> dict[str, str]:
    return {"endpointurl": s3_endpoint, "access_key_id": "testing", "secret_access_key": "testing",
            "region": "us-east-1"}


def test_push_restore_and_config_placement(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    root = tmp_path / "repo"
    for i in range(30):
        _write(root, f"raw/s/f{i}.bin", os.urandom(200))
    v = Versioner(root, remote=f"s3://{bucket}/dvc", remote_config=_config(s3_endpoint))
    first = v.snapshot("d/raw/1", message="m")
    keys = _keys(s3_endpoint, bucket)
    assert len(keys) == 31 and all(k.startswith("dvc/files/md5/") for k in keys)

    committed = subprocess.run(["git", "show", "HEAD:.dvc/config"], cwd=root, capture_output=True, text=True,
                               check=True).stdout
    assert f"s3://{bucket}/dvc" in committed
    assert "testing" not in committed and s3_endpoint not in committed, "credentials or endpoint were committed"
    local = (root / ".dvc" / "config.local").read_text()
    assert s3_endpoint in local and "secret_access_key = testing" in local
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert ".dvc/config.local" not in tracked

    # An incremental snapshot pushes the new file and the new listing only.
    _write(root, "raw/s/new.bin", b"new")
    v.snapshot("d/raw/2", message="m")
    assert len(_keys(s3_endpoint, bucket) - keys) == 2

    shutil.rmtree(root / ".dvc" / "cache")
    restored = v.restore(first.data_state_id, tmp_path / "restored")
    assert restored["restored_from"] == "remote" and restored["files_verified"] == 30
    assert not (tmp_path / "restored" / "raw/s/new.bin").exists()


def test_retention_on_the_s3_remote_keeps_what_kept_tags_reference(tmp_path: Path, s3_endpoint: str,
                                                                    bucket: str) -> None:
    root = tmp_path / "repo"
    v = Versioner(root, remote=f"s3://{bucket}/dvc", remote_config=_config(s3_endpoint))
    _write(root, "raw/s/shared.bin", b"shared by both states")
    _write(root, "raw/s/old.bin", b"only in the old state")
    v.snapshot("d/raw/1", message="m")
    (root / "raw/s/old.bin").unlink()
    _write(root, "raw/s/new.bin", b"only in the new state")
    v.snapshot("d/raw/2", message="m")
    before = _keys(s3_endpoint, bucket)
    report = collect(v, RetentionPolicy(keep_last=1), apply=True)
    gone = before - _keys(s3_endpoint, bucket)
    assert report.remote_objects_deleted == len(gone) == 2  # old.bin and the old listing
    shutil.rmtree(root / ".dvc" / "cache")
    restored = v.restore("d/raw/2", tmp_path / "restored")
    assert restored["files_verified"] == 2 and restored["restored_from"] == "remote"


def test_remote_credentials_from_an_airflow_connection(tmp_path: Path, s3_endpoint: str, bucket: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from datacentric_airflow.hooks.repository import dvc_remote_config

    monkeypatch.setenv("AIRFLOW_CONN_DVC_S3", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}))
    config = dvc_remote_config("dvc_s3")
    assert config == _config(s3_endpoint)
    assert dvc_remote_config(None) is None
    root = tmp_path / "repo"
    _write(root, "raw/s/a.bin", b"a")
    Versioner(root, remote=f"s3://{bucket}/p", remote_config=config).snapshot("d/raw/1", message="m")
    assert len(_keys(s3_endpoint, bucket)) == 2


def test_endpoint_from_the_environment(tmp_path: Path, s3_endpoint: str, bucket: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATACENTRIC_DVC_REMOTE_ENDPOINT", s3_endpoint)
    root = tmp_path / "repo"
    _write(root, "raw/s/a.bin", b"a")
    v = Versioner(root, remote=f"s3://{bucket}/env")
    assert v.remote_config == {"endpointurl": s3_endpoint}
    v.snapshot("d/raw/1", message="m")  # credentials: AWS_* from the environment (set by the fixture)
    assert len(_keys(s3_endpoint, bucket)) == 2
