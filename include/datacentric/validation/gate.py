"""The validation stage around the Great Expectations checks: drift, the validated and quarantine
zones, the run-independent reports, and the relationships across sources. Design note:
docs/explanation/validation-rules.md."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datacentric.errors import ManifestError, RepositoryError
from datacentric.hashing import sha256_file, sha256_json
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


def partitions_path(name: str) -> str:
    return f"validation/{name}/partitions.json"


def validate_stage(
    loaded: LoadedManifest,
    name: str,
    repo: DataRepository,
    *,
    gx_root: Path,
    run_id: str,
    build_docs: bool = True,
) -> dict[str, Any]:
    """Validate the raw partitions of source `name` that are new or changed since they were last
    validated; returns the run's summary with a readable `message`.

    Each raw partition `raw/<source>/<unit>` has its validated rows in `validated/<source>/<unit>` and
    its failing rows in `quarantine/<source>/validate/<unit>`. The partitions a run judges are read
    together, so the gate's thresholds (quarantine fraction, row counts) apply to the run's new data,
    not to the history; key uniqueness is also checked against the keys of the partitions already
    validated (a key-only read). A partition whose raw file and rules are unchanged is not read again;
    `partitions.json` in the reports zone records what each partition gave (rows in, valid,
    quarantined), which the zone's totals come from. rows_in = rows_valid + rows_quarantined holds for
    the run and for each partition. The caller fails the task when `success` is false, which stops
    every stage downstream of this source; nothing of a failed run reaches the validated zone.
    Great Expectations' per-run results and Data Docs live under `gx_root`; the run-independent
    summary and the accepted schema are published to the reports zone, with lineage to the raw files
    they judged.
    """
    from datacentric.validation.drift import detect_drift, schema_document
    from datacentric.validation.suite import REASONS_COLUMN, load_expectations, suite_fingerprint, validate_source

    spec = loaded.spec.sources.get(name)
    if spec is None:
        raise ManifestError(f"{loaded.path}: no source {name!r} (sources: {', '.join(loaded.spec.sources)})")
    declared_file = expectations_file(loaded, name)
    expectations = load_expectations(declared_file, name, spec) if declared_file is not None else []
    suite_sha = suite_fingerprint(name, spec, expectations)
    rules_sha = sha256_json({"suite": suite_sha, "source": spec.model_dump(mode="json", by_alias=True)})

    raw_root = repo.path("raw", name)
    units = {p.relative_to(raw_root).as_posix(): p for p in repo.files("raw", name)}
    live = repo.live()
    raw_sha = {unit: _sha256(repo, live, path) for unit, path in units.items()}
    index = _read_partitions(repo, name)
    known = index.get("partitions", {}) if index.get("rules_sha256") == rules_sha else {}
    todo = sorted(u for u in units if not _still_valid(repo, name, u, known.get(u), raw_sha[u]))
    removed = sorted(set(index.get("partitions", {})) - set(units))

    lineage: dict[str, Any] = {
        "inputs": [_file_lineage(repo, units[u], raw_sha[u]) for u in todo],
        "manifest_sha256": loaded.sha256,
        "expectations_file": None if declared_file is None else {
            "path": spec.validation.expectations, "sha256": sha256_file(declared_file)},
        "suite_sha256": suite_sha,
        "outputs": {"validated": [], "quarantine": []},
    }
    provenance = {"source": name, "stage": "validate", "manifest_sha256": loaded.sha256,
                  "inputs": [i["path"] for i in lineage["inputs"]]}
    if not todo:
        summary = _unchanged_summary(name, spec, suite_sha, len(units), removed, index)
        summary["lineage"] = lineage
        _remove_stale(repo, name, set(units), run_id, removed)
        if removed:
            _publish_partitions(repo, name, rules_sha, {u: e for u, e in known.items() if u in units}, run_id,
                                provenance)
        summary["message"] = gate_message(name, summary)
        return summary

    frames = [pd.read_parquet(units[u]) for u in todo]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    unit_of_row = np.repeat(np.arange(len(todo)), [len(f) for f in frames])
    del frames
    drift = detect_drift(name, spec, frame, _accepted_schema(repo, name))
    result = validate_source(name, spec, frame, gx_root=gx_root, run_id=run_id, build_docs=build_docs,
                             expectations=expectations)
    flags = result.flags if result.flags is not None else np.zeros(len(frame), dtype=bool)
    valid, quarantined = result.valid, result.quarantined
    valid_units, quarantined_units = unit_of_row[~flags], unit_of_row[flags]
    del frame

    problems = list(result.problems) + (drift.messages() if drift.fails else [])
    warnings = list(result.warnings) + (drift.messages() if drift.warns else [])
    # Keys the partitions of earlier runs hold: a run's rows must not repeat them.
    repeated, key_rule = _repeated_keys(repo, name, spec, valid, set(units) - set(todo), result.expectations)
    if repeated.any():
        count = int(repeated.sum())
        sample = valid.loc[repeated, list(spec.keys)].head(3).astype(str).agg("|".join, axis=1).tolist()
        if _fails_on_duplicates(spec):
            problems.append(f"{key_rule} failed: {count} rows repeat keys of partitions validated before, "
                            f"e.g. {sample}")
        else:
            moved = valid[repeated].copy()
            moved[REASONS_COLUMN] = json.dumps([key_rule], ensure_ascii=False)
            quarantined = pd.concat([quarantined, moved], ignore_index=True)
            quarantined_units = np.concatenate([quarantined_units, valid_units[repeated]])
            valid = valid[~repeated].reset_index(drop=True)
            valid_units = valid_units[~repeated]
            warnings.append(f"{key_rule}: {count} rows repeat keys of partitions validated before, e.g. {sample}; "
                            "quarantined")
    rows_in = len(valid) + len(quarantined)
    fraction = len(quarantined) / rows_in if rows_in else 0.0
    limit = float(spec.max_quarantine_fraction)
    over = f"more than max_quarantine_fraction {limit:.2%}"
    if fraction > limit and not any(over in p for p in problems):
        problems.append(f"quarantined {len(quarantined)} of {rows_in} rows ({fraction:.2%}), {over}")
    success = not problems

    entries = dict(known)
    for position, unit in enumerate(todo):
        unit_valid = valid[valid_units == position]
        unit_bad = quarantined[quarantined_units == position]
        if success:
            out = _publish_or_remove(repo, "validated", f"{name}/{unit}", unit_valid, run_id, provenance,
                                     "no row of the partition passed validation")
            if out is not None:
                lineage["outputs"]["validated"].append(out)
        out = _publish_or_remove(repo, "quarantine", f"{name}/validate/{unit}", unit_bad, run_id, provenance,
                                 "no row of the partition failed validation in this run")
        if out is not None:
            lineage["outputs"]["quarantine"].append(out)
        entries[unit] = {"raw_sha256": raw_sha[unit], "rows_in": len(unit_valid) + len(unit_bad),
                         "rows_valid": len(unit_valid), "rows_quarantined": len(unit_bad)}
    if success:
        _remove_stale(repo, name, set(units), run_id, removed)
        if drift.accepts:
            repo.publish_bytes("reports", schema_path(name), schema_document(name, drift.observed), run_id=run_id,
                               provenance=provenance)

    summary = result.summary()
    summary.update(rows_in=rows_in, rows_valid=len(valid), rows_quarantined=len(quarantined),
                   quarantine_fraction=round(fraction, 6), success=success, problems=problems, warnings=warnings,
                   published=success, expectations=result.expectations, drift=drift.summary(), lineage=lineage,
                   partitions={"validated": todo, "unchanged": len(units) - len(todo), "removed": removed})
    summary["message"] = gate_message(name, summary, drift_lines=drift.messages())
    page = summary.get("data_docs_page")
    if page and Path(str(page).removeprefix("file://")).is_file():
        from datacentric.validation.data_docs import mark_gate

        mark_gate(Path(str(page).removeprefix("file://")), summary)  # the verdict GX's page does not know
    stored = {k: v for k, v in summary.items() if k not in RUN_SPECIFIC}
    repo.publish_bytes("reports", summary_path(name),
                       (json.dumps(stored, indent=2, sort_keys=True, default=str) + "\n").encode(),
                       run_id=run_id, provenance=provenance)
    if success:
        # Last: what it records is done (a run killed before it validates these partitions again).
        _publish_partitions(repo, name, rules_sha, {u: e for u, e in entries.items() if u in units}, run_id,
                            provenance)
    return summary


def _sha256(repo: DataRepository, live: dict[str, Any], path: Path) -> str:
    record = live.get(repo.relative(path))
    return record.sha256 if record is not None and record.sha256 else sha256_file(path)


def _read_partitions(repo: DataRepository, name: str) -> dict[str, Any]:
    path = repo.path("reports", partitions_path(name))
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}  # unreadable: every partition is validated again, and the file rewritten
    return document if isinstance(document, dict) and isinstance(document.get("partitions"), dict) else {}


def _still_valid(repo: DataRepository, name: str, unit: str, entry: dict[str, Any] | None, raw_sha: str) -> bool:
    """A partition needs no validation when its raw file and rules are as recorded and its outputs
    are there (a run killed between publishing and recording validates it again)."""
    if not entry or entry.get("raw_sha256") != raw_sha:
        return False
    for zone, relpath, rows in (("validated", f"{name}/{unit}", entry.get("rows_valid")),
                                ("quarantine", f"{name}/validate/{unit}", entry.get("rows_quarantined"))):
        if bool(rows) != repo.path(zone, relpath).exists():
            return False
    return True


def _publish_or_remove(repo: DataRepository, zone: str, relpath: str, frame: pd.DataFrame, run_id: str,
                       provenance: dict[str, Any], reason: str) -> dict[str, Any] | None:
    if len(frame):
        return _published(repo.publish_frame(zone, relpath, frame.reset_index(drop=True), run_id=run_id,
                                             provenance=provenance))
    if repo.path(zone, relpath).exists():
        repo.remove(zone, relpath, reason=reason, run_id=run_id)
    return None


def _remove_stale(repo: DataRepository, name: str, units: set[str], run_id: str, removed: list[str]) -> None:
    """Validated and quarantined partitions whose raw partition is gone, and the one-file layout of
    earlier versions (validated/<source>/data.parquet), which the partitions replace."""
    for zone, base in (("validated", repo.path("validated", name)),
                       ("quarantine", repo.path("quarantine", name, "validate"))):
        for path in repo.files(zone, *base.relative_to(repo.path(zone)).parts):
            unit = path.relative_to(base).as_posix()
            if unit not in units:
                why = ("its raw partition is gone" if unit in removed
                       else "not a partition of raw/: replaced by one file per raw partition")
                repo.remove(zone, repo.relative(path).split("/", 1)[1], reason=why, run_id=run_id)


def _publish_partitions(repo: DataRepository, name: str, rules_sha: str, entries: dict[str, Any], run_id: str,
                        provenance: dict[str, Any]) -> None:
    totals = {k: sum(int(e[k]) for e in entries.values()) for k in ("rows_in", "rows_valid", "rows_quarantined")}
    document = {"source": name, "rules_sha256": rules_sha, "totals": totals,
                "partitions": dict(sorted(entries.items()))}
    repo.publish_bytes("reports", partitions_path(name),
                       (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), run_id=run_id,
                       provenance=provenance)


def _unchanged_summary(name: str, spec: Any, suite_sha: str, units: int, removed: list[str],
                       index: dict[str, Any]) -> dict[str, Any]:
    totals = index.get("totals", {})
    return {
        "source": name, "suite": suite_sha, "rows_in": 0, "rows_valid": 0, "rows_quarantined": 0,
        "quarantine_fraction": 0.0, "max_quarantine_fraction": float(spec.max_quarantine_fraction),
        "success": True, "published": False, "problems": [], "warnings": [], "expectations": [],
        "expectations_evaluated": 0, "failed_expectations": [], "data_docs": None, "data_docs_page": None,
        "drift": {}, "partitions": {"validated": [], "unchanged": units, "removed": removed},
        "zone_totals": totals,
    }


def _fails_on_duplicates(spec: Any) -> bool:
    return bool(getattr(getattr(spec, "validation", None), "fail_on_duplicate_keys", True))


def _repeated_keys(repo: DataRepository, name: str, spec: Any, valid: pd.DataFrame, earlier: set[str],
                   expectations: list[dict[str, Any]]) -> tuple[np.ndarray, str]:
    """Which valid rows repeat a key of the validated partitions `earlier` (units this run did not
    judge), read key columns only; and the id of the suite's key rule, which such rows break."""
    keys = list(spec.keys or [])
    none = np.zeros(len(valid), dtype=bool)
    if not keys or not len(valid):
        return none, ""
    base = repo.path("validated", name)
    others = [p for p in repo.files("validated", name) if p.relative_to(base).as_posix() in earlier]
    if not others:
        return none, ""
    seen = pd.concat([pd.read_parquet(p, columns=keys) for p in others], ignore_index=True).drop_duplicates()
    mine = valid[keys]
    merged = mine.merge(seen, on=keys, how="left", indicator=True)  # seen has each key once: row for row
    repeated = (merged["_merge"] == "both").to_numpy(dtype=bool)
    rule = next((e["id"] for e in expectations
                 if e["type"] in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
                 and (e["kwargs"].get("column_list") or [e["kwargs"].get("column")]) == keys),
                f"keys {keys} unique")
    return repeated, rule


def _accepted_schema(repo: DataRepository, name: str) -> dict[str, dict[str, Any]] | None:
    from datacentric.validation.drift import read_schema_document

    path = repo.path("reports", schema_path(name))
    if not path.exists():
        return None
    return read_schema_document(path.read_bytes(), str(path))


def _file_lineage(repo: DataRepository, path: Path, sha256: str | None = None) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {"path": repo.relative(path), "sha256": sha256 or sha256_file(path),
            "rows": pq.ParquetFile(path).metadata.num_rows}


def _published(published: Published) -> dict[str, Any]:
    return {"path": published.path, "sha256": published.sha256, "rows": published.rows}


def gate_message(name: str, summary: dict[str, Any], *, drift_lines: Sequence[str] = ()) -> str:
    """What a person reading the task log needs: the verdict, why, and which rules failed on how many
    rows, with examples of the failing values."""
    partitions = summary.get("partitions") or {}
    if partitions and not partitions.get("validated") and summary["success"]:
        return (f"source {name!r}: nothing new to validate: {partitions.get('unchanged', 0)} partition(s) "
                "unchanged since they were validated" + (f", {len(partitions['removed'])} removed"
                                                          if partitions.get("removed") else ""))
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
    frames: dict[tuple[str, str], pd.Series] = {}

    def column(source: str, name: str) -> pd.Series:
        # Only the key column, of every validated partition: what a relationship needs.
        if (source, name) not in frames:
            files = repo.files("validated", source)
            if not files:
                raise RepositoryError(f"nothing in validated/{source} of repository {repo.root}")
            frames[(source, name)] = pd.concat([pd.read_parquet(f, columns=[name])[name] for f in files],
                                               ignore_index=True)
        return frames[(source, name)]

    for rel in loaded.spec.relationships:
        (src, col), (dst, key) = rel.split()
        child = column(src, col)
        parent = column(dst, key).dropna().unique()
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
    sources = sorted({source for source, _ in frames})
    live = repo.live()
    document = {
        "relationships": report,
        "lineage": {"manifest_sha256": loaded.sha256,
                    "inputs": [_file_lineage(repo, p, _sha256(repo, live, p))
                               for s in sources for p in repo.files("validated", s)]},
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
