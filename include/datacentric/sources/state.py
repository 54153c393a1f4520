"""The state file: what ingestion learned about each source, like a lock file beside the manifest.

It lives in the data repository as `state/<manifest name>.lock.yaml`, not next to the manifest's own
text: the manifest is the user's (and in production the code tree is a read-only image), so runs
never rewrite it. In the repository, the state file is published atomically like any other file,
recorded in the change log (so point-in-time recovery restores it too) and committed to git as plain
text by every snapshot, so `git diff` between two snapshots shows what changed per source.

One entry per source::

    sources:
      events:
        type: file
        files: 30                     # raw files of the source now
        rows: 60000                   # rows in them
        watermark: {column: event_time, value: '2026-10-30T23:59:58+00:00'}   # newest value seen
        cursor: '2026-10-30T23:59:58+00:00'   # where the next catch-up starts (sql, http sources)
        schema: {event_id: string, ...}       # columns and types as the source delivered them
        schema_fingerprint: 4f1c...           # sha256 of `schema`
        last_run:                             # the last run that changed something
          run_id: scheduled__2026-10-31T00:00:00+00:00
          at: '2026-10-31T00:03:12.123456+00:00'
          window: {start: null, end: '2026-10-31T00:00:00+00:00'}
          rows_in: 2000
          rows_published: 1998
          rows_quarantined: 2
          manifest_sha256: 9a0c...
        last_snapshot: ds-3b1e...             # the data state the run started from

An entry changes only when the run changed something (published or removed a file, moved a cursor,
saw another schema), so re-running an interval leaves the file byte for byte as it was, and a
snapshot after it has nothing new to commit.
"""

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
