"""The state file: what ingestion learned about each source (files, rows, watermark, cursor, schema,
last run), kept in the data repository like a lock file beside the manifest. Design note and an
example entry: docs/explanation/data-repository.md (The state file)."""

from __future__ import annotations

from typing import Any

import yaml

from datacentric.errors import RepositoryError
from datacentric.hashing import sha256_json
from datacentric.repository.store import DataRepository

HEADER = (
    "# What each ingestion run learned per source (watermarks, row counts, schema, last snapshot).\n"
    "# Written by datacentric ingestion, never by hand; versioned with every snapshot of this repository.\n"
)

# Keys of an entry that describe the source (compared to decide whether to write) and the run.
FACTS = ("type", "files", "rows", "watermark", "cursor", "schema", "schema_fingerprint")


def read_state(repo: DataRepository, manifest_name: str) -> dict[str, Any]:
    path = repo.state_path(manifest_name)
    if not path.exists():
        return {"manifest": manifest_name, "sources": {}}
    try:
        state = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RepositoryError(f"{path}: unreadable state file ({exc}); restore it from a snapshot") from None
    if not isinstance(state, dict) or not isinstance(state.get("sources", {}), dict):
        raise RepositoryError(f"{path}: expected a mapping with 'sources'")
    state.setdefault("sources", {})
    return state


def state_facts_sha256(repo: DataRepository, manifest_name: str) -> str | None:
    """sha256 of what the state file knows of each source (its FACTS), leaving out the run records
    (last run, last snapshot) that differ between runs producing the same data; None without a file."""
    if not repo.state_path(manifest_name).exists():
        return None
    sources = read_state(repo, manifest_name)["sources"]
    return sha256_json({name: {k: _plain(entry.get(k)) for k in FACTS if k in entry}
                        for name, entry in sorted(sources.items()) if isinstance(entry, dict)})


def source_state(repo: DataRepository, manifest_name: str, source: str) -> dict[str, Any]:
    return dict(read_state(repo, manifest_name)["sources"].get(source) or {})


def record_source(
    repo: DataRepository, manifest_name: str, source: str, facts: dict[str, Any], run: dict[str, Any] | None,
    *, run_id: str | None = None,
) -> bool:
    """Store what a run learned about `source`. `run` (last_run, last_snapshot) is kept from the previous
    entry when None. Writes only if the entry changes; returns whether it did."""
    with repo.locked():
        state = read_state(repo, manifest_name)
        previous = state["sources"].get(source) or {}
        entry = {k: v for k, v in facts.items() if v is not None}
        if run is None:
            entry.update({k: previous[k] for k in ("last_run", "last_snapshot") if k in previous})
        else:
            entry.update({k: v for k, v in run.items() if v is not None})
        if entry == previous:
            return False
        state["manifest"] = manifest_name
        state["sources"][source] = entry
        repo.publish_state(manifest_name, render(state), run_id=run_id)
        return True


def render(state: dict[str, Any]) -> str:
    """Diff-friendly YAML: sorted keys, one value per line."""
    body = yaml.safe_dump(_plain(state), sort_keys=True, default_flow_style=False, allow_unicode=True, width=100)
    return HEADER + body


def schema_fingerprint(schema: dict[str, str]) -> str:
    return sha256_json(sorted(schema.items()))


def schema_changes(before: dict[str, str] | None, after: dict[str, str]) -> list[str]:
    """Readable differences between two schemas: added, removed and retyped columns."""
    if not before:
        return []
    out = [f"column {c!r} added ({after[c]})" for c in after if c not in before]
    out += [f"column {c!r} removed (was {before[c]})" for c in before if c not in after]
    out += [f"column {c!r} changed from {before[c]} to {after[c]}"
            for c in after if c in before and before[c] != after[c]]
    return out


def _plain(value: Any) -> Any:
    """Only YAML's plain types, so the file loads with safe_load anywhere."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
