"""Shared by the corpus modules: one file source in a temporary landing folder, ingested into a fresh
repository, with its counts and quarantine reasons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from datacentric.manifest import parse_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import IngestResult, ingest_source

COLUMNS = """\
      id: {type: int, nullable: false}
      name: {type: str}
"""


def manifest_text(fmt: str, columns: str = COLUMNS, location: str = "") -> str:
    extra = f", {location}" if location else ""
    return (f"name: corpus\nsources:\n  items:\n    type: file\n    owner: corpus\n"
            f"    location: {{path: items, format: {fmt}{extra}}}\n    keys: [id]\n    columns:\n{columns}")


@dataclass
class Outcome:
    result: IngestResult
    raw: pd.DataFrame
    reasons: list[str]


def ingest(tmp: Path, manifest: str, files: dict[str, bytes]) -> Outcome:
    landing = tmp / "landing"
    (landing / "items").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (landing / "items" / name).write_bytes(data)
    loaded = parse_manifest(manifest, tmp / "manifest.yaml")
    repo = DataRepository(tmp / "repo").init()
    result = ingest_source(loaded, "items", repo, landing_root=landing, run_id="corpus")
    raw = repo.read_frame("raw", "items") if result.rows_published else pd.DataFrame()
    reasons = list(repo.read_frame("quarantine", "items")["_reasons"]) if result.rows_quarantined else []
    return Outcome(result, raw, reasons)
