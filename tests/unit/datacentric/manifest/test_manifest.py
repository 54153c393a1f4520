from __future__ import annotations

import json
from pathlib import Path

import pytest
from datacentric.errors import ManifestError
from datacentric.manifest import load_manifest, manifest_json_schema, parse_manifest

GOOD = """\
name: tiny
sources:
  items:
    type: file
    owner: me
    location: {path: items, format: csv}
    keys: [id]
    columns:
      id: {type: int, nullable: false}
      kind: {type: str}
"""


def test_bundled_manifest_loads(bundled_manifest: Path) -> None:
    loaded = load_manifest(bundled_manifest)
    assert set(loaded.spec.sources) == {"products", "reviews", "events"}
    assert {s.type for s in loaded.spec.sources.values()} == {"sql", "file"}
    assert loaded.spec.label_task is not None and loaded.spec.label_task.workers_per_item == 3
    assert len(loaded.sha256) == 64


def test_sha_changes_with_text() -> None:
    assert parse_manifest(GOOD).sha256 != parse_manifest(GOOD + "\n# note\n").sha256


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (GOOD.replace("type: int, nullable: false", "type: integer, nullable: false"),
         ":9: sources.items.columns.id.type"),
        (GOOD.replace("keys: [id]", "keys: [missing]"), "key 'missing' is not a column"),
        (GOOD.replace("type: file", "type: ftp"), ":4: sources.items.type"),
        (GOOD.replace("    owner: me\n", ""), "sources.items.owner: Field required"),
        (GOOD + "relationships:\n  - {from: items.id, to: other.id}\n", "unknown source 'other'"),
        (GOOD.replace("format: csv", "format: xls"), ":6: sources.items.location.format"),
    ],
)
def test_errors_name_line_and_field(bad: str, expected: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(bad, "m.yaml")
    assert expected in str(info.value)
    assert "m.yaml:" in str(info.value)


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(ManifestError, match=r"m.yaml:3: not valid YAML"):
        parse_manifest("name: x\nsources:\n  a: b: c\n", "m.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest file not found"):
        load_manifest(tmp_path / "nope.yaml")


def test_json_schema_matches_published_copy() -> None:
    published = Path(__file__).resolve().parents[4] / "include" / "manifests" / "manifest.schema.json"
    assert json.loads(published.read_text()) == manifest_json_schema(), (
        "include/manifests/manifest.schema.json is stale: regenerate with "
        "`python -m datacentric schema --out include/manifests/manifest.schema.json`"
    )


SOURCES_OF_EVERY_KIND = """\
name: kinds
sources:
  files:
    type: file
    owner: me
    location: {path: f, format: csv, date_in_name: "%Y-%m-%d", delimiter: ";", encoding: latin-1}
    keys: [id]
    columns: {id: {type: int}}
  objects:
    type: s3
    owner: me
    location: {bucket: b, prefix: p/, format: parquet, date_in_name: "dt=%Y-%m-%d"}
    keys: [id]
    columns: {id: {type: int}}
  table:
    type: sql
    owner: me
    location: {conn_id: db, table: public.t, incremental_column: at, partition: hour}
    keys: [id]
    columns: {id: {type: int}, at: {type: timestamp}}
  api:
    type: http
    owner: me
    location:
      url: /v1/items
      conn_id: api
      records: data.items
      pagination: {style: cursor, cursor_param: after, cursor_path: meta.next}
      window: {start_param: since, end_param: until, earliest: 2026-01-01T00:00:00Z}
      retries: 5
    keys: [id]
    columns: {id: {type: int}}
"""


def test_every_kind_of_source_parses() -> None:
    spec = parse_manifest(SOURCES_OF_EVERY_KIND).spec
    assert [s.type for s in spec.sources.values()] == ["file", "s3", "sql", "http"]
    api = spec.sources["api"].location
    assert api.pagination.cursor_path == "meta.next" and api.window.partition == "day" and api.retries == 5


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('date_in_name: "%Y-%m-%d"', 'date_in_name: "%y-%b"', ":6: sources.files.location.date_in_name: Value error, "
                                                             "unsupported directive(s) %b, %y"),
        ("incremental_column: at", "incremental_column: updated", "incremental_column 'updated' is not a column"),
        (", cursor_path: meta.next", "", "style 'cursor' needs 'cursor_path'"),
        ("retries: 5", "retries: -1", ":30: sources.api.location.retries: Input should be greater than or equal to 0"),
        ("type: http", "type: ftp", "sources.api.type: Input tag 'ftp' found using 'type' does not match any of the "
                                    "expected tags: 'file', 'sql', 's3', 'http'"),
    ],
)
def test_source_errors_name_line_and_field(old: str, new: str, expected: str) -> None:
    assert old in SOURCES_OF_EVERY_KIND
    with pytest.raises(ManifestError) as info:
        parse_manifest(SOURCES_OF_EVERY_KIND.replace(old, new), "kinds.yaml")
    assert expected in str(info.value) and "kinds.yaml:" in str(info.value)
