"""A deployment for the operators that read the environment: a manifest with one daily file source and
five days of landed files under DATACENTRIC_VAR."""

from __future__ import annotations

from pathlib import Path

import pytest

EVENTS_MANIFEST = """\
name: ops
sources:
  events:
    type: file
    owner: me
    location: {path: events, pattern: "*.csv", format: csv, date_in_name: "%Y-%m-%d"}
    keys: [id]
    columns:
      id: {type: int, nullable: false}
"""


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATACENTRIC_VAR", str(tmp_path / "var"))
    landing = tmp_path / "var" / "landing" / "events"
    landing.mkdir(parents=True)
    for d in range(1, 6):
        (landing / f"events-2026-10-0{d}.csv").write_text(f"id\n{d}\n")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(EVENTS_MANIFEST)
    return manifest
