"""Lineage of the data repository from its change log and snapshot tags: what produced a file, and
what depends on a source version. Design note: docs/explanation/lineage.md."""

from __future__ import annotations

import json
import os
import subprocess
from bisect import bisect_left
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datacentric.errors import RepositoryError
from datacentric.repository.store import CHANGELOG, ZONES

# The operator of the bundled DAGs that runs each stage, for records whose provenance names no operator.
STAGE_OPERATORS = {
    "ingest": "IngestSourceOperator",
    "validate": "ValidateSourceOperator",
    "relationships": "RelationshipCheckOperator",
    "label": "LabelingRoundOperator",
    "consolidate": "ConsolidateLabelsOperator",
    "label_quality": "LabelQualityOperator",
    "features": "FeastApplyOperator",
    "training_set": "TrainingSetOperator",
    "state": "IngestSourceOperator",
}
# Provenance fields that describe where ingested data came from and how far it reached.
_SOURCE_MARKS = ("origin_identity", "window", "max_time", "watermark", "cursor")


@dataclass(frozen=True)
class Input:
    """One input of an artifact version: an external source object (its URI and checksum) or a
    version of another repository file (its path and sha256)."""

    kind: str  # "source" or "artifact"
    ref: str  # origin URI, or path relative to the repository root
    sha256: str | None = None
    source: str | None = None  # the manifest source an external input belongs to
    marks: dict[str, Any] = field(default_factory=dict)  # window, watermark, identity of the origin
    position: int | None = None  # for an artifact: the change log record that produced that version

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}) or k in ("sha256",)}


@dataclass(frozen=True)
class ArtifactVersion:
    """One version of a repository file: the change log record that made it, with its inputs, the
    run and operator that wrote it, and the code revision and data state that first pinned it."""

    path: str
    sha256: str | None
    op: str
    at: str
    position: int
    run_id: str | None
    stage: str | None
    operator: str | None
    rows: int | None
    inputs: tuple[Input, ...]
    provenance: dict[str, Any]
    dag_id: str | None = None
    code_revision: str | None = None
    manifest_sha256: str | None = None
    data_state_id: str | None = None
    tag: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["inputs"] = [i.as_dict() for i in self.inputs]
        return out


class Lineage:
    """The lineage graph of one repository (or of one of its data states)."""

    def __init__(
        self, records: list[dict[str, Any]], offsets: list[int], states: list[dict[str, Any]], root: Path | None = None
    ) -> None:
        self.root = root
        self.versions: list[ArtifactVersion] = []
        self._by_path: dict[str, list[int]] = defaultdict(list)
        self._dependents: dict[int, list[int]] = defaultdict(list)
        self._source_users: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
        self._live: dict[str, int] = {}
        self._removed: dict[str, int] = {}
        self._build(records, offsets, _states_by_offset(states))

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def of_repository(cls, root: Path | str, *, state: str | None = None) -> Lineage:
        """The lineage of the repository's working copy, or, with `state` (id, tag, commit, date),
        as it was at that data state."""
        from datacentric.versioning.versioner import Versioner

        root = Path(root)
        versioner = Versioner(root)
        states = versioner.states() if (root / ".git").exists() else []
        _fill_changelog_sizes(root, states)
        if state is None:
            path = root / CHANGELOG
            data = path.read_bytes() if path.exists() else b""
        else:
            chosen = versioner.resolve(state)
            data = _git_show(root, chosen["commit"], CHANGELOG)
            states = [s for s in states if s["changelog_bytes"] <= chosen["changelog_bytes"]]
        records, offsets = _parse_changelog(data, root / CHANGELOG)
        return cls(records, offsets, states, root)

    def _build(self, records: list[dict[str, Any]], offsets: list[int], states: _StateIndex) -> None:
        tree = _LiveTree()
        for position, (record, end) in enumerate(zip(records, offsets, strict=True)):
            path = record.get("path", "")
            op = record.get("op", "add")
            prov = record.get("provenance") or {}
            stage = _stage_of(path, prov)
            inputs = tuple(self._resolve_inputs(path, prov, stage, tree)) if op != "remove" else ()
            state = states.first_including(end)
            run_id = record.get("run_id")
            version = ArtifactVersion(
                path=path,
                sha256=record.get("sha256"),
                op=op,
                at=record.get("at", ""),
                position=position,
                run_id=run_id,
                stage=stage,
                operator=prov.get("operator") or STAGE_OPERATORS.get(stage or ""),
                rows=record.get("rows"),
                inputs=inputs,
                provenance=prov,
                dag_id=prov.get("dag_id") or states.dag_of(run_id),
                code_revision=prov.get("code_revision") or (state or {}).get("code_revision"),
                manifest_sha256=prov.get("manifest_sha256") or (state or {}).get("manifest_sha256"),
                data_state_id=(state or {}).get("data_state_id"),
                tag=(state or {}).get("tag"),
            )
            self.versions.append(version)
            self._by_path[path].append(position)
            for item in inputs:
                if item.kind == "artifact" and item.position is not None:
                    self._dependents[item.position].append(position)
                elif item.kind == "source":
                    self._source_users[item.ref].append((item.sha256, position))
            if op == "remove":
                tree.remove(path)
                self._live.pop(path, None)
                self._removed[path] = position
            else:
                tree.add(path, position, record.get("sha256"))
                self._live[path] = position
                self._removed.pop(path, None)

    def _resolve_inputs(self, path: str, prov: dict[str, Any], stage: str | None, tree: _LiveTree) -> list[Input]:
        """The inputs a record's provenance names, each pinned to the version live when it was written."""
        found: list[Input] = []
        if prov.get("origin"):
            marks = {k: prov[k] for k in _SOURCE_MARKS if prov.get(k) not in (None, "", {})}
            found.append(Input("source", str(prov["origin"]), prov.get("origin_sha256"), prov.get("source"), marks))
        zone = path.split("/", 1)[0]
        refs: list[str] = []
        for key in ("inputs", "votes", "labels", "items"):
            value = prov.get(key)
            if isinstance(value, str):
                refs.append(value)
            elif isinstance(value, list | tuple):
                refs.extend(str(v) for v in value if isinstance(v, str))
        refs = [_in_repository(ref, zone) for ref in refs]
        for feature in prov.get("features") or []:
            if isinstance(feature, str) and ":" in feature:
                refs.append(f"features/{feature.split(':', 1)[0]}")
        if stage == "label" and prov.get("job_name") and prov.get("task"):
            # A labeling round: items are selected from the validated source; votes answer the items.
            if "/votes/" in path:
                refs.append(f"labels/{prov['task']}/items/{prov['job_name']}.parquet")
            elif prov.get("source"):
                refs.append(f"validated/{prov['source']}")
        seen: set[str] = set()
        for ref in refs:
            resolved = tree.resolve(ref)
            if not resolved and ref not in seen:  # named, but not in the repository when this was written
                seen.add(ref)
                found.append(Input("artifact", ref, None))
            for item_path, position, sha in resolved:
                if item_path not in seen and item_path != path:
                    seen.add(item_path)
                    found.append(Input("artifact", item_path, sha, position=position))
        return found

    # -- questions -----------------------------------------------------------------------------

    def _relative(self, path: str) -> str:
        """A path as the change log writes it: relative to the repository root, POSIX separators."""
        text = os.path.normpath(str(path))
        if os.path.isabs(text) and self.root is not None:
            try:
                text = os.path.relpath(text, os.path.realpath(self.root))
            except ValueError:
                pass
        return text.replace(os.sep, "/").removeprefix("./")

    def history(self, path: str) -> list[ArtifactVersion]:
        """Every recorded version of `path`, oldest first (removals included)."""
        return [self.versions[i] for i in self._by_path.get(self._relative(path), [])]

    def produced_by(self, path: str, sha256: str | None = None) -> ArtifactVersion:
        """The record that produced `path` (its current version, or the one with `sha256`)."""
        path = self._relative(path)
        history = [v for v in self.history(path) if v.op != "remove"]
        if sha256:
            history = [v for v in history if v.sha256 and v.sha256.startswith(sha256)]
        if not history:
            known = "" if path in self._by_path else " (the change log never recorded it)"
            raise RepositoryError(f"no version of {path!r}{' with sha256 ' + sha256 if sha256 else ''} in the "
                                  f"lineage{known}")
        return history[-1]

    def upstream(self, path: str, sha256: str | None = None, depth: int | None = None) -> list[tuple[int, Any]]:
        """Everything `path` was made from, depth first: (depth, ArtifactVersion or Input) pairs, the
        file itself at depth 0; a source input ends a branch."""
        start = self.produced_by(path, sha256)
        out: list[tuple[int, Any]] = [(0, start)]
        stack = [(1, item) for item in reversed(start.inputs)]
        seen = {start.position}
        while stack:
            level, item = stack.pop()
            if depth is not None and level > depth:
                continue
            if item.kind == "artifact" and item.position is not None:
                version = self.versions[item.position]
                out.append((level, version))
                if version.position in seen:
                    continue
                seen.add(version.position)
                stack.extend((level + 1, i) for i in reversed(version.inputs))
            else:
                out.append((level, item))
        return out

    def dependents(self, ref: str, sha256: str | None = None, *, current_only: bool = True) -> list[ArtifactVersion]:
        """Every artifact version made, directly or through others, from `ref`: an origin URI (a
        trailing "/" matches every origin under it), or a repository path; with `sha256`, only from
        that version of it. `current_only` keeps the versions still in the repository."""
        starts: list[int] = []
        if "://" in ref:
            for uri, users in self._source_users.items():
                if uri == ref or (ref.endswith("/") and uri.startswith(ref)):
                    starts.extend(pos for sha, pos in users if not sha256 or (sha and sha.startswith(sha256)))
        else:
            for version in self.history(ref):
                if version.op != "remove" and (not sha256 or (version.sha256 or "").startswith(sha256)):
                    starts.extend(self._dependents.get(version.position, []))
        found: set[int] = set()
        queue = deque(starts)
        while queue:
            position = queue.popleft()
            if position in found:
                continue
            found.add(position)
            queue.extend(self._dependents.get(position, []))
        versions = [self.versions[p] for p in sorted(found)]
        if current_only:
            versions = [v for v in versions if self._live.get(v.path) == v.position]
        return sorted(versions, key=lambda v: (v.path, v.position))

    def live(self, **match: Any) -> list[ArtifactVersion]:
        """The current version of every file whose record matches `match` (stage=..., or provenance
        fields such as source=..., job_name=...), sorted by path."""
        out = []
        for _, position in sorted(self._live.items()):
            version = self.versions[position]
            if all((version.stage if key == "stage" else version.provenance.get(key)) == value
                   for key, value in match.items()):
                out.append(version)
        return out


# -- helpers -----------------------------------------------------------------------------------


class _LiveTree:
    """The files live at a point of the change log, by folder, to expand a folder input quickly."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, str | None]] = {}
        self.by_dir: dict[str, set[str]] = defaultdict(set)

    def add(self, path: str, position: int, sha: str | None) -> None:
        self.files[path] = (position, sha)
        self.by_dir[path.rsplit("/", 1)[0] if "/" in path else ""].add(path)

    def remove(self, path: str) -> None:
        self.files.pop(path, None)
        self.by_dir[path.rsplit("/", 1)[0] if "/" in path else ""].discard(path)

    def resolve(self, ref: str) -> list[tuple[str, int, str | None]]:
        ref = ref.rstrip("/")
        if ref in self.files:
            position, sha = self.files[ref]
            return [(ref, position, sha)]
        paths = [p for folder, members in self.by_dir.items() if folder == ref or folder.startswith(ref + "/")
                 for p in members]
        return [(p, *self.files[p]) for p in sorted(paths)]


class _StateIndex:
    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = sorted(states, key=lambda s: (s.get("changelog_bytes", 0), s.get("date", "")))
        self.sizes = [s.get("changelog_bytes", 0) for s in self.states]
        self.dags: dict[str, str] = {}
        for state in self.states:
            run = state.get("run") or {}
            if run.get("run_id") and run.get("dag_id"):
                self.dags.setdefault(run["run_id"], run["dag_id"])

    def first_including(self, end_offset: int) -> dict[str, Any] | None:
        index = bisect_left(self.sizes, end_offset)
        return self.states[index] if index < len(self.states) else None

    def dag_of(self, run_id: str | None) -> str | None:
        return self.dags.get(run_id or "")


def _states_by_offset(states: list[dict[str, Any]]) -> _StateIndex:
    return _StateIndex([s for s in states if "changelog_bytes" in s])


def _stage_of(path: str, prov: dict[str, Any]) -> str | None:
    if prov.get("stage"):
        return str(prov["stage"])
    if prov.get("kind") == "state":
        return "state"
    if path.startswith("labels/") and prov.get("job_name"):
        return "label"
    return None


def _in_repository(ref: str, zone: str) -> str:
    """A provenance path as a repository path: as given when it starts with a zone, else inside `zone`."""
    ref = ref.strip().removeprefix("./")
    head = ref.split("/", 1)[0]
    return ref if head in ZONES or head == "state" else f"{zone}/{ref}"




def _parse_changelog(data: bytes, where: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Records and the byte offset where each ends; a torn last line (a writer died) is skipped."""
    records: list[dict[str, Any]] = []
    offsets: list[int] = []
    position = 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        position += len(line)
        if not line.endswith(b"\n"):
            break
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise RepositoryError(f"{where}:{number}: unreadable change record: {exc}") from None
        offsets.append(position)
    return records, offsets


def _fill_changelog_sizes(root: Path, states: list[dict[str, Any]]) -> None:
    """States recorded before the snapshot noted the change log's size get it from git."""
    missing = [s for s in states if "changelog_bytes" not in s]
    if not missing:
        return
    query = "".join(f"{s['commit']}:{CHANGELOG}\n" for s in missing).encode()
    proc = subprocess.run(["git", "cat-file", "--batch-check"], cwd=root, input=query, capture_output=True)
    for state, line in zip(missing, proc.stdout.decode().splitlines(), strict=False):
        parts = line.split()
        state["changelog_bytes"] = int(parts[2]) if len(parts) == 3 and parts[1] == "blob" else 0


def _git_show(root: Path, commit: str, path: str) -> bytes:
    proc = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True)
    if proc.returncode != 0:
        return b""
    return proc.stdout


def render_upstream(items: list[tuple[int, Any]]) -> str:
    """The upstream tree as indented text, one line per file or source."""
    lines = []
    for level, item in items:
        pad = "  " * level + ("<- " if level else "")
        if isinstance(item, ArtifactVersion):
            lines.append(f"{pad}{describe(item)}")
        else:
            extra = f" (source {item.source})" if item.source else ""
            marks = f" {json.dumps(item.marks, sort_keys=True, default=str)}" if item.marks else ""
            lines.append(f"{pad}{item.ref}  sha256 {_short(item.sha256)}{extra}{marks}")
    return "\n".join(lines)


def describe(version: ArtifactVersion) -> str:
    """One line: the file, its checksum and who made it when."""
    made = ", ".join(x for x in (
        f"{version.op} {version.at}",
        f"run {version.run_id}" if version.run_id else "",
        f"dag {version.dag_id}" if version.dag_id else "",
        f"stage {version.stage}" if version.stage else "",
        f"operator {version.operator}" if version.operator else "",
        f"code {_short(version.code_revision, 12)}" if version.code_revision else "",
        f"first in {version.data_state_id}" if version.data_state_id else "not snapshotted yet",
    ) if x)
    return f"{version.path}  sha256 {_short(version.sha256)}  ({made})"


def _short(value: str | None, n: int = 16) -> str:
    return (value or "?")[:n]


__all__ = ["STAGE_OPERATORS", "ArtifactVersion", "Input", "Lineage", "describe", "render_upstream"]
