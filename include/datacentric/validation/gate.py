"""The validation stage around the Great Expectations checks: drift, the validated and quarantine
zones, the run-independent reports, and the relationships across sources. Design note:
docs/explanation/validation-rules.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from datacentric.errors import ManifestError
from datacentric.hashing import sha256_file
from datacentric.manifest.model import LoadedManifest
from datacentric.repository.store import DataRepository, Published

# Fields of a validation summary that differ between two runs over the same data; they stay out of
# the copy kept in the repository, so re-validating unchanged data changes nothing there.
RUN_SPECIFIC = ("run_id", "data_docs", "data_docs_page")
MESSAGE_EXPECTATIONS = 20  # failed expectations listed in a message; the summary has them all


def summary_path(name: str) -> str:
    return f"validation/{name}/summary.json"


def schema_path(name: str) -> str:
    return f"validation/{name}/schema.json"


RELATIONSHIPS_PATH = "validation/relationships.json"


def expectations_file(loaded: LoadedManifest, name: str) -> Path | None:
    """The YAML file of source `name`'s declared expectations (relative to the manifest's folder)."""
    declared = loaded.spec.sources[name].validation.expectations
    if declared is None:
        return None
    path = Path(declared)
    return path if path.is_absolute() else loaded.path.parent / path


def validate_stage(
    loaded: LoadedManifest,
    name: str,
    repo: DataRepository,
    *,
    gx_root: Path,
    run_id: str,
    build_docs: bool = True,
) -> dict[str, Any]:
    """Validate all raw rows of source `name`; returns the summary with a readable `message`.

    rows_in = rows_valid + rows_quarantined always holds. The caller fails the task when `success`
    is false, which stops every stage downstream of this source. Great Expectations' per-run results
    and Data Docs live under `gx_root`; the run-independent summary and the accepted schema are
    published to the repository's reports zone, with lineage to the raw files they judged.
    """
    from datacentric.validation.drift import detect_drift, schema_document
    from datacentric.validation.suite import load_expectations, suite_fingerprint, validate_source

    spec = loaded.spec.sources.get(name)
    if spec is None:
        raise ManifestError(f"{loaded.path}: no source {name!r} (sources: {', '.join(loaded.spec.sources)})")
    declared_file = expectations_file(loaded, name)
    expectations = load_expectations(declared_file, name, spec) if declared_file is not None else []

    inputs = repo.files("raw", name)
    frame = repo.read_frame("raw", name)
    drift = detect_drift(name, spec, frame, _accepted_schema(repo, name))
    result = validate_source(name, spec, frame, gx_root=gx_root, run_id=run_id, build_docs=build_docs,
                             expectations=expectations)

    problems = list(result.problems) + (drift.messages() if drift.fails else [])
    warnings = list(result.warnings) + (drift.messages() if drift.warns else [])
    success = not problems
    lineage: dict[str, Any] = {
        "inputs": [_file_lineage(repo, p) for p in inputs],
        "manifest_sha256": loaded.sha256,
        "expectations_file": None if declared_file is None else {
            "path": spec.validation.expectations, "sha256": sha256_file(declared_file)},
        "suite_sha256": suite_fingerprint(name, spec, expectations),
        "outputs": {},
    }
    provenance = {"source": name, "stage": "validate", "manifest_sha256": loaded.sha256,
                  "inputs": [i["path"] for i in lineage["inputs"]]}

    if success:
        published = repo.publish_frame("validated", f"{name}/data.parquet", result.valid, run_id=run_id,
                                       provenance=provenance)
        lineage["outputs"]["validated"] = _published(published)
    quarantine_path = f"{name}/validate/data.parquet"
    if len(result.quarantined):
        published = repo.publish_frame("quarantine", quarantine_path, result.quarantined, run_id=run_id,
                                       provenance=provenance)
        lineage["outputs"]["quarantine"] = _published(published)
    elif repo.path("quarantine", quarantine_path).exists():
        repo.remove("quarantine", quarantine_path, reason="no rows failed validation in this run", run_id=run_id)
    if success and drift.accepts:
        repo.publish_bytes("reports", schema_path(name), schema_document(name, drift.observed), run_id=run_id,
                           provenance=provenance)

    summary = result.summary()
    summary.update(success=success, problems=problems, warnings=warnings, published=success,
                   expectations=result.expectations, drift=drift.summary(), lineage=lineage)
    summary["message"] = gate_message(name, summary, drift_lines=drift.messages())
    stored = {k: v for k, v in summary.items() if k not in RUN_SPECIFIC}
    repo.publish_bytes("reports", summary_path(name),
                       (json.dumps(stored, indent=2, sort_keys=True, default=str) + "\n").encode(),
                       run_id=run_id, provenance=provenance)
    return summary


def _accepted_schema(repo: DataRepository, name: str) -> dict[str, dict[str, Any]] | None:
    from datacentric.validation.drift import read_schema_document

    path = repo.path("reports", schema_path(name))
    if not path.exists():
        return None
    return read_schema_document(path.read_bytes(), str(path))


def _file_lineage(repo: DataRepository, path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {"path": repo.relative(path), "sha256": sha256_file(path), "rows": pq.ParquetFile(path).metadata.num_rows}


def _published(published: Published) -> dict[str, Any]:
    return {"path": published.path, "sha256": published.sha256, "rows": published.rows}


def gate_message(name: str, summary: dict[str, Any], *, drift_lines: Sequence[str] = ()) -> str:
    """What a person reading the task log needs: the verdict, why, and which rules failed on how many
    rows, with examples of the failing values."""
    verdict = "gate passed" if summary["success"] else "GATE FAILED"
    lines = [f"source {name!r}: {verdict}: {summary['rows_in']} rows in, {summary['rows_valid']} valid, "
             f"{summary['rows_quarantined']} quarantined ({summary['quarantine_fraction']:.2%}, "
             f"limit {summary['max_quarantine_fraction']:.2%})"]
    if summary["problems"]:
        lines.append("Why the gate failed:")
        lines += [f"  - {p}" for p in summary["problems"]]
    failed = summary.get("failed_expectations", [])
    if failed:
        lines.append("Failed expectations:")
        for e in failed[:MESSAGE_EXPECTATIONS]:
            count = e.get("unexpected_count")
            rows = f"{count} row(s)" if count is not None else f"observed {e.get('observed_value')}"
            tag = "" if e.get("severity", "critical") == "critical" else f" [{e['severity']}]"
            lines.append(f"  - {e['id']}{tag}: {rows}, e.g. {e.get('sample', [])[:3]}")
        if len(failed) > MESSAGE_EXPECTATIONS:
            lines.append(f"  ... and {len(failed) - MESSAGE_EXPECTATIONS} more (see the summary or Data Docs)")
    if drift_lines:
        lines.append("Schema:")
        lines += [f"  - {d}" for d in drift_lines]
    extra = [w for w in summary.get("warnings", []) if not w.startswith("schema drift:")]
    if extra:
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in extra]
    if not summary["success"]:
        lines.append("Nothing was published to the validated zone; the quarantined rows are in "
                     f"quarantine/{name}/validate/.")
    return "\n".join(lines)


# -- relationships -----------------------------------------------------------------------------


def check_relationships(
    loaded: LoadedManifest, repo: DataRepository, *, run_id: str | None = None
) -> list[dict[str, Any]]:
    """For each relationship, the `from` rows and distinct keys with no match in `to` (orphans).

    Reads the validated zone. A relationship with `max_orphan_fraction` fails (its `success` is false)
    when a larger share of `from` rows is orphaned; one without only reports. The report is published
    to the reports zone with the checksums of the validated files it read.
    """
    report = []
    frames: dict[str, pd.DataFrame] = {}

    def validated(source: str) -> pd.DataFrame:
        if source not in frames:
            frames[source] = repo.read_frame("validated", source)
        return frames[source]

    for rel in loaded.spec.relationships:
        (src, col), (dst, key) = rel.split()
        child = validated(src)[col]
        parent = validated(dst)[key].dropna().unique()
        present = child.notna()
        orphaned = present & ~child.isin(parent)
        orphan_rows = int(orphaned.sum())
        rows = int(present.sum())
        orphan_keys = pd.unique(child[orphaned])
        fraction = orphan_rows / rows if rows else 0.0
        limit = rel.max_orphan_fraction
        report.append({
            "from": rel.from_, "to": rel.to,
            "rows": rows, "orphan_rows": orphan_rows, "orphan_fraction": round(fraction, 6),
            "keys": int(child[present].nunique()), "orphans": len(orphan_keys),
            "max_orphan_fraction": limit,
            "success": limit is None or fraction <= limit,
            "sample": [str(k) for k in sorted(orphan_keys, key=str)[:5]],
        })
    sources = sorted(frames)
    document = {
        "relationships": report,
        "lineage": {"manifest_sha256": loaded.sha256,
                    "inputs": [_file_lineage(repo, p) for s in sources for p in repo.files("validated", s)]},
    }
    if report:
        repo.publish_bytes("reports", RELATIONSHIPS_PATH,
                           (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), run_id=run_id,
                           provenance={"stage": "relationships", "manifest_sha256": loaded.sha256})
    return report


def relationship_failures(report: list[dict[str, Any]]) -> list[str]:
    """One sentence per relationship over its orphan limit."""
    return [
        f"{r['from']} -> {r['to']}: {r['orphan_rows']} of {r['rows']} rows ({r['orphan_fraction']:.2%}) have no "
        f"match, more than max_orphan_fraction {r['max_orphan_fraction']:.2%}; e.g. keys {r['sample'][:3]}"
        for r in report if not r["success"]
    ]
