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
        (GOOD.replace("type: int, nullable: false", "type: integer, nullable: false"), ":9: sources.items.columns.id.type"),
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
    published = Path(__file__).resolve().parents[3] / "include" / "manifests" / "manifest.schema.json"
    assert json.loads(published.read_text()) == manifest_json_schema(), (
        "include/manifests/manifest.schema.json is stale: regenerate with "
        "`python -m datacentric schema --out include/manifests/manifest.schema.json`"
    )
