"""Git plumbing for snapshots: commands run with a fixed identity, and small text files kept in git.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from datacentric.errors import RepositoryError
from datacentric.versioning.cache import atomic_write_bytes

GIT_ENV = {
    "GIT_AUTHOR_NAME": "datacentric",
    "GIT_AUTHOR_EMAIL": "datacentric@localhost",
    "GIT_COMMITTER_NAME": "datacentric",
    "GIT_COMMITTER_EMAIL": "datacentric@localhost",
    # Read-only git commands must not take index.lock behind a snapshot's back.
    "GIT_OPTIONAL_LOCKS": "0",
}


def ensure_lines(path: Path, lines: list[str]) -> None:
    text = path.read_text() if path.exists() else ""
    present = set(text.splitlines())
    missing = [line for line in lines if line not in present]
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write_bytes(path, (text + "".join(f"{line}\n" for line in missing)).encode())


def run_command(cmd: list[str], cwd: Path | None = None) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RepositoryError(f"{' '.join(cmd[:3])} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout
