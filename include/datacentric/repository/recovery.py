"""Point-in-time recovery of the data repository from its change log and object store, and the diff
between two points. Design note: docs/explanation/data-repository.md; usage:
docs/how-to/recover-a-point-in-time.md."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from datacentric.errors import RepositoryError, TimeFormatError
from datacentric.hashing import sha256_file
from datacentric.repository.store import CHANGELOG, ChangeRecord, DataRepository
from datacentric.times import parse_instant

RECOVERY_RECORD = "RECOVERY.json"


@dataclass(frozen=True)
class Point:
    """A resolved point: how many change records it includes, and the time of the last one."""

    spec: str
    position: int
    at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_point(records: list[ChangeRecord], spec: str) -> Point:
    """Where `spec` (a time, run:<id>, before:<id>, now, empty) falls in the change log."""
    text = spec.strip()
    if text in ("now", "latest", ""):
        return _point(records, spec, len(records))
    if text in ("empty", "start"):
        return _point(records, spec, 0)
    if text.startswith("before:"):
        run = text.removeprefix("before:")
        positions = [i for i, r in enumerate(records) if r.run_id == run]
        if not positions:
            raise _unknown_run(records, run)
        return _point(records, spec, positions[0])
    when = _parse_time(text.removeprefix("at:"))
    if when is not None:
        position = 0
        for i, record in enumerate(records):
            recorded = _parse_time(record.at)
            if recorded is not None and recorded <= when:
                position = i + 1
        return _point(records, spec, position)
    run = text.removeprefix("run:")
    positions = [i for i, r in enumerate(records) if r.run_id == run]
    if not positions:
        raise _unknown_run(records, run)
    return _point(records, spec, positions[-1] + 1)


def files_at(records: list[ChangeRecord], point: Point, source: str | None = None) -> dict[str, ChangeRecord]:
    """path -> the record that put its content there, for every file the repository held at `point`."""
    files: dict[str, ChangeRecord] = {}
    for record in records[: point.position]:
        if record.op == "remove":
            files.pop(record.path, None)
        else:
            files[record.path] = record
    if source is not None:
        files = {path: r for path, r in files.items() if belongs_to(path, r, source)}
    return files


def belongs_to(path: str, record: ChangeRecord, source: str) -> bool:
    return group_of(path)[0] == source or record.provenance.get("source") == source


def group_of(path: str) -> tuple[str, str]:
    """(source or task or view, zone) of a repository path: raw/events/x.parquet -> ("events", "raw")."""
    parts = PurePosixPath(path).parts
    zone = parts[0] if parts else ""
    if zone == "state":
        return (PurePosixPath(path).name.split(".")[0], zone)
    if zone == "reports" and len(parts) > 3 and parts[1] == "validation":
        return (parts[2], zone)
    return (parts[1] if len(parts) > 2 else "", zone)


def recover(
    repo: DataRepository, point: str, dest: Path | str, *, source: str | None = None, allow_missing: bool = False
) -> dict[str, Any]:
    """Write the repository (or one source) as of `point` into the new folder `dest`.

    Every file is verified against its recorded sha256. Content that is no longer anywhere (a file
    replaced before the object store existed) is an error naming the files, unless `allow_missing`.
    """
    dest = Path(dest)
    records = repo.changelog()
    resolved = resolve_point(records, point)
    done = _finished(dest, repo, resolved, source)
    if done is not None:
        return done  # a retry of a recovery that completed: nothing to do
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise RepositoryError(f"recovery target {dest} exists and is not an empty folder")
    files = files_at(records, resolved, source)
    staging = dest.parent / f".{dest.name}.recovering-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    missing: list[str] = []
    try:
        for path, record in sorted(files.items()):
            origin = _content(repo, path, record)
            if origin is None:
                missing.append(path)
                continue
            _copy_verified(origin, staging / path, record.sha256 or "", path)
        if missing and not allow_missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise RepositoryError(f"{len(missing)} file(s) of {point!r} are no longer anywhere in {repo.root}: "
                                  f"{shown}; restore a DVC snapshot instead, or pass allow_missing")
        kept = [r for r in records[: resolved.position] if source is None or belongs_to(r.path, r, source)]
        (staging / CHANGELOG).write_text("".join(json.dumps(asdict(r), sort_keys=True) + "\n" for r in kept))
        summary = {
            "point": resolved.as_dict(),
            "source": source,
            "repository": str(repo.root),
            "dest": str(dest),
            "files": len(files) - len(missing),
            "missing": missing,
            "rows": _rows_by_group(files),
        }
        (staging / RECOVERY_RECORD).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        if dest.exists():
            dest.rmdir()
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        raise
    return summary


def diff(repo: DataRepository, before: str, after: str = "now", *, source: str | None = None,
         compare_rows: bool = True) -> dict[str, Any]:
    """What changed between two points, per source and zone: files and rows added and removed."""
    records = repo.changelog()
    a, b = resolve_point(records, before), resolve_point(records, after)
    old, new = files_at(records, a, source), files_at(records, b, source)
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def group(path: str) -> dict[str, Any]:
        key = group_of(path)
        return groups.setdefault(key, {"source": key[0], "zone": key[1], "files_added": [], "files_removed": [],
                                       "files_changed": [], "rows_added": 0, "rows_removed": 0, "rows_exact": True})

    for path in sorted(set(old) | set(new)):
        was, now = old.get(path), new.get(path)
        if was is not None and now is not None and was.sha256 == now.sha256:
            continue
        entry = group(path)
        if was is None and now is not None:
            entry["files_added"].append(path)
            entry["rows_added"] += now.rows or 0
        elif was is not None and now is None:
            entry["files_removed"].append(path)
            entry["rows_removed"] += was.rows or 0
        elif was is not None and now is not None:
            entry["files_changed"].append(path)
            counted = _row_changes(repo, was, now) if compare_rows else None
            if counted is None and was.rows is None and now.rows is None:
                counted = (0, 0)  # not a table (a report, the state file): no rows to count
            if counted is None:
                entry["rows_exact"] = False
                delta = (now.rows or 0) - (was.rows or 0)
                counted = (max(delta, 0), max(-delta, 0))
            entry["rows_added"] += counted[0]
            entry["rows_removed"] += counted[1]
    changes = [groups[k] for k in sorted(groups)]
    return {
        "from": a.as_dict(),
        "to": b.as_dict(),
        "source": source,
        "changes": changes,
        "totals": {
            "files_added": sum(len(c["files_added"]) for c in changes),
            "files_removed": sum(len(c["files_removed"]) for c in changes),
            "files_changed": sum(len(c["files_changed"]) for c in changes),
            "rows_added": sum(c["rows_added"] for c in changes),
            "rows_removed": sum(c["rows_removed"] for c in changes),
        },
    }


def history(repo: DataRepository, *, source: str | None = None) -> list[dict[str, Any]]:
    """The runs that changed the repository, oldest first: when, and how many files each added,
    replaced and removed. Any of them is a point to recover or diff (`run:<id>`, `before:<id>`)."""
    runs: dict[str, dict[str, Any]] = {}
    for record in repo.changelog():
        if source is not None and not belongs_to(record.path, record, source):
            continue
        run = record.run_id or "(no run)"
        entry = runs.setdefault(run, {"run_id": run, "first": record.at, "last": record.at,
                                      "add": 0, "replace": 0, "remove": 0})
        entry["last"] = record.at
        entry[record.op] = entry.get(record.op, 0) + 1
    return list(runs.values())


def format_diff(report: dict[str, Any]) -> str:
    """A diff report as a readable table."""
    lines = [f"from {report['from']['spec']!r} ({report['from']['position']} changes, {report['from']['at']}) "
             f"to {report['to']['spec']!r} ({report['to']['position']} changes, {report['to']['at']})"]
    if not report["changes"]:
        return lines[0] + "\nno difference"
    lines.append(f"{'source':<24} {'zone':<14} {'files +':>8} {'files -':>8} {'files ~':>8} "
                 f"{'rows +':>10} {'rows -':>10}")
    for c in report["changes"]:
        mark = "" if c["rows_exact"] else "  (rows from counts)"
        lines.append(f"{c['source']:<24} {c['zone']:<14} {len(c['files_added']):>8} {len(c['files_removed']):>8} "
                     f"{len(c['files_changed']):>8} {c['rows_added']:>10} {c['rows_removed']:>10}{mark}")
    t = report["totals"]
    lines.append(f"{'total':<24} {'':<14} {t['files_added']:>8} {t['files_removed']:>8} {t['files_changed']:>8} "
                 f"{t['rows_added']:>10} {t['rows_removed']:>10}")
    return "\n".join(lines)


# -- internals ------------------------------------------------------------------------------------

def _point(records: list[ChangeRecord], spec: str, position: int) -> Point:
    return Point(spec, position, records[position - 1].at if position else None)


def _unknown_run(records: list[ChangeRecord], run: str) -> RepositoryError:
    known = list(dict.fromkeys(r.run_id for r in records if r.run_id))[-5:]
    return RepositoryError(f"no change in the repository names run {run!r} (and it is not a date or time); "
                           f"latest runs: {', '.join(known) or 'none'}")


def _parse_time(text: str) -> datetime | None:
    """A point given as a date (its end) or a date-time; None when the text is neither (a run id)."""
    try:
        return parse_instant(text, "point", day_end=True)
    except TimeFormatError:
        return None


def _finished(dest: Path, repo: DataRepository, point: Point, source: str | None) -> dict[str, Any] | None:
    record = dest / RECOVERY_RECORD
    if not record.is_file():
        return None
    try:
        summary = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    same = (summary.get("repository") == str(repo.root) and summary.get("source") == source
            and summary.get("point", {}).get("position") == point.position)
    return summary if same else None


def _content(repo: DataRepository, path: str, record: ChangeRecord) -> Path | None:
    """Where the content a record names can be read: the object store, or the file itself if unchanged."""
    if not record.sha256:
        return None
    obj = repo.object_path(record.sha256)
    if obj.exists():
        return obj
    current = repo.root / path
    if current.is_file() and sha256_file(current) == record.sha256:
        return current
    return None


def _copy_verified(origin: Path, target: Path, sha256: str, path: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with origin.open("rb") as src, target.open("wb") as dst:
        while block := src.read(1 << 20):
            digest.update(block)
            dst.write(block)
    if digest.hexdigest() != sha256:
        raise RepositoryError(f"{path}: recovered content has sha256 {digest.hexdigest()}, the change log says "
                              f"{sha256}; the object store is damaged")


def _row_changes(repo: DataRepository, was: ChangeRecord, now: ChangeRecord) -> tuple[int, int] | None:
    """(rows added, rows removed) between two versions of a Parquet file, row by row; None if unknown."""
    if not now.path.endswith(".parquet") or not was.sha256 or not now.sha256:
        return None
    old_path, new_path = repo.object_path(was.sha256), _content(repo, now.path, now)
    if not old_path.exists() or new_path is None:
        return None
    import pandas as pd

    try:
        old_rows = Counter(_row_hashes(pd.read_parquet(old_path)))
        new_rows = Counter(_row_hashes(pd.read_parquet(new_path)))
    except Exception:  # noqa: BLE001 - an unreadable version: fall back to counts
        return None
    return sum((new_rows - old_rows).values()), sum((old_rows - new_rows).values())


def _row_hashes(frame: Any) -> list[int]:
    import pandas as pd

    frame = frame.reindex(sorted(frame.columns), axis=1)
    return pd.util.hash_pandas_object(frame.astype(str), index=False).tolist()


def _rows_by_group(files: dict[str, ChangeRecord]) -> dict[str, int]:
    rows: Counter[str] = Counter()
    for path, record in files.items():
        source, zone = group_of(path)
        rows[f"{zone}/{source}" if source else zone] += record.rows or 0
    return dict(sorted(rows.items()))
