"""A repository init killed half-way (SIGKILL, as when a worker is lost) leaves nothing a retry trusts:
the retry makes a whole git + DVC repository with autostage and the cache link types."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from datacentric.versioning import Versioner

# The child kills itself right after the step under test, before init can finish.
CHILD = r"""
import os, signal, sys
import dvc.repo
from datacentric.versioning import Versioner
import datacentric.versioning.versioner as versioner

root, where = sys.argv[1:3]
if where == "dvc":
    real_init = dvc.repo.Repo.init
    def init_then_die(*args, **kwargs):
        real_init(*args, **kwargs)  # .dvc/config written, autostage and cache type not yet
        os.kill(os.getpid(), signal.SIGKILL)
    dvc.repo.Repo.init = init_then_die
else:
    real_run = versioner.run_command
    def run_then_die(cmd, cwd=None):
        out = real_run(cmd, cwd)
        if cmd[:2] == ["git", "init"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    versioner.run_command = run_then_die
Versioner(root, link_types=("hardlink", "copy")).init()
"""


@pytest.mark.parametrize("where", ["git", "dvc"])
def test_killed_init_is_redone_whole(tmp_path: Path, where: str) -> None:
    root = tmp_path / "repository"
    child = subprocess.run([sys.executable, "-c", CHILD, str(root), where], capture_output=True, text=True,
                           env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"})
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    # Nothing half-made is in place: only the staging folder, which the retry removes.
    assert not (root / ".dvc").exists()
    assert not (root / ".git").exists()
    assert list(root.glob(".init-*.tmp"))

    Versioner(root, link_types=("hardlink", "copy")).init()

    config = configparser.ConfigParser()
    config.read(root / ".dvc" / "config")
    assert config.getboolean("core", "autostage") is True
    assert config.get("cache", "type").strip('"') == "hardlink,copy"
    assert not list(root.glob(".init-*.tmp"))
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=root, capture_output=True,
                            text=True, check=True).stdout.split()
    assert ".dvc/config" in staged


def test_init_twice_keeps_the_first(tmp_path: Path) -> None:
    root = tmp_path / "repository"
    Versioner(root, link_types=("copy",)).init()
    before = (root / ".dvc" / "config").read_bytes()
    Versioner(root, link_types=("copy",)).init()
    assert (root / ".dvc" / "config").read_bytes() == before
