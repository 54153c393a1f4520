"""The validation stage around the Great Expectations checks: read the raw zone, publish the
validated and quarantine zones, and check the manifest's relationships across sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.manifest import LoadedManifest
from datacentric.repository import DataRepository


# Fields of a validation summary that differ between two runs over the same data; they stay out of
# the copy kept in the repository, so re-validating unchanged data changes nothing there.
RUN_SPECIFIC = ("run_id", "data_docs", "data_docs_page")


def validate_stage(
    loaded: LoadedManifest, name: str, repo: DataRepository, *, gx_root: Path, run_id: str
) -> dict[str, Any]:
    """Validate all raw rows of source `name`; returns the summary with a readable `message`.

    rows_in = rows_valid + rows_quarantined always holds. The caller fails the task when
    `success` is false, which stops every stage downstream of this source. Great Expectations'
    per-run results and Data Docs live under `gx_root`; the run-independent summary is published to
    the repository's reports zone, with lineage to the raw files it judged.
    """
    from datacentric.validation import validate_source

    spec = loaded.spec.sources[name]
    frame = repo.read_frame("raw", name)
    result = validate_source(name, spec, frame, gx_root=gx_root, run_id=run_id)
    provenance = {"source": name, "stage": "validate", "manifest_sha256": loaded.sha256,
                  "inputs": [repo.relative(p) for p in repo.files("raw", name)]}
    repo.publish_frame("validated", f"{name}/data.parquet", result.valid, run_id=run_id, provenance=provenance)
    quarantine_path = f"{name}/validate/data.parquet"
    if len(result.quarantined):
        repo.publish_frame("quarantine", quarantine_path, _storable(result.quarantined), run_id=run_id,
                           provenance=provenance)
    elif repo.path("quarantine", quarantine_path).exists():
        repo.remove("quarantine", quarantine_path, reason="no rows failed validation in this run", run_id=run_id)
    summary = result.summary()
    summary["message"] = _message(name, summary)
    repo.publish_bytes("reports", f"validation/{name}/summary.json",
                       json.dumps({k: v for k, v in summary.items() if k not in RUN_SPECIFIC}, indent=2, sort_keys=True,
                                  default=str).encode(),
                       run_id=run_id, provenance=provenance)
    return summary


def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows can hold anything; keep their declared columns, but as they were."""
    return frame.reset_index(drop=True)


def _message(name: str, summary: dict[str, Any]) -> str:
    head = (f"source {name!r}: {summary['rows_quarantined']} of {summary['rows_in']} rows quarantined, "
            f"{summary['rows_valid']} validated")
    failed = [e for e in summary.get("failed_expectations", [])]
    if not failed:
        return head + "; every expectation passed" if summary["success"] else head
    lines = [head + ("; gate passed" if summary["success"] else "; GATE FAILED") + ". Failed expectations:"]
    for e in failed[:20]:
        lines.append(f"  - {e.get('column') or '<table>'}: {e['type']} {e.get('kwargs', {})}: "
                     f"{e.get('unexpected_count', '?')} row(s), e.g. {e.get('sample', [])[:3]}")
    return "\n".join(lines)


def check_relationships(loaded: LoadedManifest, repo: DataRepository) -> list[dict[str, Any]]:
    """For each relationship, how many distinct keys of `from` have no match in `to` (orphans)."""
    report = []
    for rel in loaded.spec.relationships:
        (src, col), (dst, key) = rel.split()
        child = repo.read_frame("validated", src)[col].dropna().unique()
        parent = set(repo.read_frame("validated", dst)[key].dropna().unique())
        orphans = [k for k in child if k not in parent]
        report.append({"from": rel.from_, "to": rel.to, "keys": int(len(child)), "orphans": len(orphans),
                       "sample": [str(k) for k in orphans[:5]]})
    return report
