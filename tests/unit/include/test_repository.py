from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import RepositoryError
from datacentric.repository import DataRepository


def test_publish_is_atomic_idempotent_and_logged(tmp_path: Path) -> None:
    repo = DataRepository(tmp_path / "repo").init()
    frame = pd.DataFrame({"a": [1, 2, 3]})
    first = repo.publish_frame("raw", "src/part.parquet", frame, run_id="r1", provenance={"source": "src"})
    again = repo.publish_frame("raw", "src/part.parquet", frame, run_id="r2", provenance={"source": "src"})
    assert first.changed and not again.changed
    changed = repo.publish_frame("raw", "src/part.parquet", frame.head(2), run_id="r3")
    assert changed.changed
    log = repo.changelog()
    assert [r.op for r in log] == ["add", "replace"]
    assert log[1].previous_sha256 == first.sha256 and log[1].rows == 2
    assert not list((tmp_path / "repo" / "raw" / "src").glob("*.tmp"))
    assert len(repo.read_frame("raw", "src")) == 2


def test_remove_is_recorded(tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    repo.publish_bytes("reports", "x.json", b"{}")
    assert repo.remove("reports", "x.json", reason="retention")
    assert not repo.remove("reports", "x.json", reason="retention")
    last = repo.changelog()[-1]
    assert last.op == "remove" and last.provenance == {"reason": "retention"}


@pytest.mark.parametrize("bad", ["../escape.parquet", "/abs.parquet", "a/../../b"])
def test_paths_cannot_escape_their_zone(tmp_path: Path, bad: str) -> None:
    repo = DataRepository(tmp_path).init()
    with pytest.raises(RepositoryError, match="escapes zone"):
        repo.publish_bytes("raw", bad, b"x")


def test_unknown_zone(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="unknown zone"):
        DataRepository(tmp_path).path("attic", "x")


def test_killed_writer_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = DataRepository(tmp_path).init()
    repo.publish_bytes("raw", "f.bin", b"old")

    def die(*args: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr("datacentric.repository.os.replace", die)
    with pytest.raises(KeyboardInterrupt):
        repo.publish_bytes("raw", "f.bin", b"new")
    assert (tmp_path / "raw" / "f.bin").read_bytes() == b"old"
    assert not list((tmp_path / "raw").glob(".f.bin.*"))
    assert len(repo.changelog()) == 1
