"""The one atomic write of the project: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Any


def write_atomic(target: Path, data: bytes, *, mode: int | None = None, durable: bool = True) -> None:
    """Make `target` hold `data`, whole or not at all: a temporary file beside it, then a rename.

    The one atomic write of the project, for files outside the zones too (generated configuration,
    DVC metadata, catalogs). `mode` sets the file's permissions before it becomes visible; `durable`
    fsyncs the file and its folder (off only where many small files are written and a lost one is
    rewritten by the retry, as in the DVC cache).
    """
    tmp = write_temporary(target, data, durable=durable, mode=mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(target.parent)


def write_temporary(target: Path, data: Any, *, durable: bool = True, mode: int | None = None) -> Path:
    """`data` in a hidden temporary file beside `target`, fsynced; its name says which process wrote it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{host_name()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def host_name() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
