from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from datacentric.errors import RepositoryError
from datacentric.repository.store import DataRepository


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

    monkeypatch.setattr("datacentric.repository.store.os.replace", die)
    with pytest.raises(KeyboardInterrupt):
        repo.publish_bytes("raw", "f.bin", b"new")
    assert (tmp_path / "raw" / "f.bin").read_bytes() == b"old"
    assert not list((tmp_path / "raw").glob(".f.bin.*"))
    assert len(repo.changelog()) == 1


def test_every_version_stays_in_the_object_store(tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    v1 = repo.publish_bytes("raw", "s/a.bin", b"one")
    v2 = repo.publish_bytes("raw", "s/a.bin", b"two")
    repo.remove("raw", "s/a.bin", reason="deletion request")
    assert repo.object_path(v1.sha256).read_bytes() == b"one"
    assert repo.object_path(v2.sha256).read_bytes() == b"two"
    assert not (tmp_path / "raw" / "s" / "a.bin").exists()
    assert (tmp_path / ".objects" / ".gitignore").read_text() == "*\n"  # content copies stay out of git
    current = repo.publish_bytes("raw", "s/b.bin", b"three")
    assert os.stat(repo.object_path(current.sha256)).st_ino == os.stat(tmp_path / "raw" / "s" / "b.bin").st_ino


def test_a_repository_from_before_the_object_store_adopts_its_files(tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    published = repo.publish_bytes("raw", "s/a.bin", b"kept")
    shutil.rmtree(tmp_path / ".objects")
    DataRepository(tmp_path).init()
    assert repo.object_path(published.sha256).read_bytes() == b"kept"


def test_a_torn_last_line_is_ignored_then_repaired(tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    repo.publish_bytes("raw", "a.bin", b"a")
    with (tmp_path / "changelog.jsonl").open("ab") as handle:
        handle.write(b'{"op": "add", "path": "raw/b.bi')  # a writer died mid-line
    assert [r.path for r in DataRepository(tmp_path).changelog()] == ["raw/a.bin"]
    again = DataRepository(tmp_path)
    again.publish_bytes("raw", "c.bin", b"c")
    assert [r.path for r in again.changelog()] == ["raw/a.bin", "raw/c.bin"]
    assert (tmp_path / "changelog.jsonl").read_bytes().endswith(b"\n")


def test_an_unreadable_record_names_its_line(tmp_path: Path) -> None:
    repo = DataRepository(tmp_path).init()
    repo.publish_bytes("raw", "a.bin", b"a")
    with (tmp_path / "changelog.jsonl").open("a") as handle:
        handle.write("not json\n")
    with pytest.raises(RepositoryError, match=r"changelog.jsonl:2: unreadable change record"):
        DataRepository(tmp_path).changelog()
    with pytest.raises(RepositoryError, match=r"changelog.jsonl:2: unreadable change record"):
        repo.publish_bytes("raw", "b.bin", b"b")  # nothing is added to a log that cannot be read


def test_two_publishers_see_each_others_records(tmp_path: Path) -> None:
    first, second = DataRepository(tmp_path).init(), DataRepository(tmp_path).init()

    def publish(repo: DataRepository, name: str) -> None:
        for i in range(30):
            repo.publish_bytes("raw", f"{name}/{i}.bin", f"{name}{i}".encode(),
                               provenance={"source": name, "origin": f"file:///{name}/{i}", "origin_sha256": str(i)})

    threads = [threading.Thread(target=publish, args=(r, n)) for r, n in ((first, "a"), (second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = DataRepository(tmp_path).changelog()
    assert len(records) == 60 and len({r.path for r in records}) == 60
    assert len(first.origin_marks("b")) == 30 and len(second.origin_marks("a")) == 30
    assert len(first.live()) == 60


def test_temporaries_of_dead_writers_are_swept(tmp_path: Path) -> None:
    from datacentric.atomic import host_name as _host

    repo = DataRepository(tmp_path).init()
    folder = tmp_path / "raw" / "s"
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = folder / f".a.parquet.{_host()}.{int(dead.stdout)}.abcd.tmp"
    live = folder / f".b.parquet.{_host()}.{os.getpid()}.abcd.tmp"
    other_host = folder / f".c.parquet.elsewhere.{int(dead.stdout)}.abcd.tmp"
    for path in (stale, live, other_host):
        path.write_bytes(b"partial")
    assert repo.sweep_temporaries(tmp_path / "raw") == 1
    assert not stale.exists() and live.exists() and other_host.exists()
