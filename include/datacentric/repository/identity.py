"""The repository's identity: a random id made once, when the repository is first used.

Several workers (machines) work on one repository through shared storage mounted at the same path.
A worker that sees no repository there, or another one (a local folder where the mount should be, a
stale copy), must stop at once with an error that says so, not fail later on "nothing in raw/" or
work on the wrong copy. A run records the identity of the repository it started on; every task of
the run checks that its worker sees that same identity.

The id lives in `.repository/id`, ignored by git, so it never enters a snapshot or a data state id:
two repositories with equal content have equal data states and different identities.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from datacentric.atomic import host_name, write_temporary
from datacentric.errors import RepositoryError

IDENTITY = Path(".repository") / "id"


class RepositoryIdentityError(RepositoryError):
    """This worker does not see the repository the run started on."""


def repository_identity(root: Path | str) -> str:
    """The repository's id, made on first use. Two workers making it at once agree on one: the id is
    written to a temporary file and hard-linked into place, which fails if another one got there first."""
    target = Path(root) / IDENTITY
    found = _read(target)
    if found:
        return found
    target.parent.mkdir(parents=True, exist_ok=True)
    ignore = target.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    tmp = write_temporary(target, (secrets.token_hex(16) + "\n").encode())
    try:
        os.link(tmp, target)
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    found = _read(target)
    if not found:
        raise RepositoryError(f"{target}: the repository's identity could not be read back after writing it")
    return found


def check_repository_identity(root: Path | str, expected: str) -> None:
    """Raise RepositoryIdentityError unless the repository at `root` is the one with id `expected`.

    Never creates anything: a missing repository stays missing, so the error names the real problem."""
    root = Path(root)
    found = _read(root / IDENTITY)
    if found == expected:
        return
    advice = ("every worker must see the same repository at the same path: mount the shared storage there "
              "(DATACENTRIC_SHARED, or DATACENTRIC_REPOSITORY on a shared volume)")
    if not root.is_dir():
        raise RepositoryIdentityError(
            f"repository {root} does not exist on worker {host_name()}, but this run started on repository "
            f"{expected}; {advice}"
        )
    if found is None:
        raise RepositoryIdentityError(
            f"repository {root} on worker {host_name()} has no identity ({IDENTITY} is missing): it is not the "
            f"repository {expected} this run started on; {advice}"
        )
    raise RepositoryIdentityError(
        f"repository {root} on worker {host_name()} is repository {found}, not the repository {expected} this "
        f"run started on: this worker sees another copy; {advice}"
    )


def check_shared_storage(shared_dir: Path | None) -> None:
    """Raise RepositoryIdentityError when the configured shared storage is not there (not mounted)."""
    if shared_dir is not None and not Path(shared_dir).is_dir():
        raise RepositoryIdentityError(
            f"shared storage {shared_dir} (DATACENTRIC_SHARED) does not exist on worker {host_name()}: mount it "
            "at the same path as on the other workers"
        )


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None
