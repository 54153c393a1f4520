"""A file whose content cannot be read as the manifest says fails as an input error (the operator then
fails without retrying: the same bytes fail the same way); a file still being written stays retryable."""

from __future__ import annotations

from pathlib import Path

import pytest
from datacentric.errors import InputError, SourceError
from datacentric.manifest import parse_manifest
from datacentric.repository import DataRepository
from datacentric.sources.ingest import ingest_source

MANIFEST = """\
version: 1
name: shop
sources:
  orders:
    type: file
    owner: tests
    location: {path: orders, format: csv}
    keys: [id]
    columns:
      id: {type: int, nullable: false}
      note: {type: str}
"""


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.csv", b'id,note\n1,"never closed\n2,x\n', "unterminated quoted value starting on line 2"),
    ("b.csv", b"id,note\n1,caf\xe9\n", "not UTF-8"),
    ("c.csv", b"id,id\n1,2\n", "duplicate column name(s) in the header: id"),
    ("d.csv.gz", b"not gzip at all", "not a readable gzip file"),
])
def test_unreadable_content_is_an_input_error_naming_the_file(tmp_path: Path, name: str, content: bytes,
                                                             message: str) -> None:
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / name).write_bytes(content)
    repo = DataRepository(tmp_path / "repo").init()
    with pytest.raises(SourceError) as raised:
        ingest_source(parse_manifest(MANIFEST), "orders", repo, landing_root=tmp_path / "landing", run_id="r1")
    assert isinstance(raised.value, InputError)
    assert name in str(raised.value) and message in str(raised.value)
    assert not repo.files("raw", "orders")
