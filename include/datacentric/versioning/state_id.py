"""Data state ids: what a snapshot pins, and the id that names it.

A data state id is a hash of content and definitions only: the repository's zone content plus the
definitions that give it meaning (manifest, what its state file knows of the sources, feature
definitions, code revision). Never of run ids or times: the same content gives the same id, whoever
made it and whenever. `stage_pins` is the one definition of the definitions, used by the Airflow
operator and the command line alike, so both name the same state with the same id.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacentric.hashing import sha256_json

if TYPE_CHECKING:
    from datacentric.manifest import LoadedManifest
    from datacentric.repository import DataRepository


def tag_name(dag_id: str, stage: str, interval_key: str) -> str:
    """A git tag for a stage of a run: <dag>/<stage>/<interval>, sanitised to git's ref rules."""
    raw = f"{dag_id}/{stage}/{interval_key}"
    clean = re.sub(r"\.\.+", ".", re.sub(r"[^A-Za-z0-9._/+-]", "-", raw))
    # No component may start with "." or end with ".lock" or "." (git check-ref-format).
    parts = [re.sub(r"(\.lock)+$", "", part.lstrip(".")).rstrip(".") for part in clean.split("/")]
    return "/".join(part for part in parts if part)


def code_revision(path: Path) -> str:
    """The git revision of the code, with a -dirty suffix for uncommitted changes; 'unknown' outside git."""
    try:
        rev = _git_out(path, "rev-parse", "HEAD")
        dirty = _git_out(path, "status", "--porcelain", "--untracked-files=no")
    except (subprocess.CalledProcessError, FileNotFoundError, NotADirectoryError):
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


def state_time(state: dict[str, Any]) -> datetime:
    """When a state was snapshotted (UTC); to the microsecond for states that record it."""
    return datetime.fromisoformat(state["date"]).astimezone(UTC)


# Pins a state records that are not part of its identity: the committed git tree also holds the
# change log and the state file's run records (run ids, times), which differ between two runs that
# produce the same content.
RECORDED_ONLY = ("data_tree",)


def identity_pins(pins: dict[str, Any]) -> dict[str, Any]:
    """The pins a data state id hashes: all of them but the ones only recorded (RECORDED_ONLY)."""
    return {k: v for k, v in pins.items() if k not in RECORDED_ONLY}


def data_state_id(pins: dict[str, Any]) -> str:
    """The id of a data state: a hash of its identity pins (canonical JSON), so equal content and
    definitions give equal ids."""
    digest = sha256_json(identity_pins(pins))
    return f"ds-{digest[:16]}"


def definitions_sha256(definitions: Any) -> str | None:
    """The sha256 of a part of the manifest (e.g. its feature definitions) as canonical JSON; None if absent."""
    if definitions is None:
        return None
    if hasattr(definitions, "model_dump"):
        definitions = definitions.model_dump(mode="json", by_alias=True)
    return sha256_json(definitions)


def stage_pins(loaded: LoadedManifest, repository: DataRepository, project_root: Path) -> dict[str, Any]:
    """The definitions a snapshot pins beside the zones' content: the manifest, what its state file
    knows of the sources (their facts, not the run records), the feature definitions and the code
    revision of `project_root`."""
    from datacentric.sources.state import state_facts_sha256

    return {
        "manifest_sha256": loaded.sha256,
        "manifest_state_sha256": state_facts_sha256(repository, loaded.name),
        "feature_definitions_sha256": definitions_sha256(loaded.spec.features),
        "code_revision": code_revision(project_root),
    }


def _git_out(path: Path, *args: str) -> str:
    # GIT_OPTIONAL_LOCKS=0: reading the code's revision never takes its index.lock.
    proc = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    return proc.stdout.strip()
