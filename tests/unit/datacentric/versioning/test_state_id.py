"""What a data state pins is defined once, in the library: the command line and the library name the
same content with the same data state id, and the pins follow the definitions they name."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

# dvc binds its log handlers to sys.stdout when first imported: import it before a test's capsys
# makes that a capture stream, closed with the test.
import dvc  # noqa: F401
import pandas as pd
import pytest
from datacentric.cli import main
from datacentric.manifest import load_manifest
from datacentric.repository import DataRepository
from datacentric.versioning import Versioner, snapshot_stage, stage_pins
from datacentric.versioning.state_id import data_state_id


def _repository(root: Path) -> DataRepository:
    repo = DataRepository(root).init()
    repo.publish_frame("raw", "reviews/a.parquet", pd.DataFrame({"id": range(50), "text": ["x"] * 50}))
    return repo


def test_stage_pins_name_the_manifest_its_state_file_features_and_code(tmp_path: Path, bundled_manifest: Path) -> None:
    loaded = load_manifest(bundled_manifest)
    repo = _repository(tmp_path / "repo")
    pins = stage_pins(loaded, repo, Path(__file__).resolve().parents[4])
    assert set(pins) == {"manifest_sha256", "manifest_state_sha256", "feature_definitions_sha256", "code_revision"}
    assert pins["manifest_sha256"] == loaded.sha256
    assert pins["manifest_state_sha256"] is None  # no state file yet
    state = repo.state_path(loaded.name)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("sources: {}\n")
    with_state = stage_pins(loaded, repo, Path(__file__).resolve().parents[4])
    assert with_state["manifest_state_sha256"] is not None
    assert data_state_id(with_state) != data_state_id(pins)


def test_the_command_line_and_the_library_give_the_same_data_state_id(
    tmp_path: Path, bundled_manifest: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    library_repo = _repository(tmp_path / "a" / "repository")
    cli_root = tmp_path / "b" / "repository"
    shutil.copytree(library_repo.root, cli_root)
    loaded = load_manifest(bundled_manifest)
    snap = snapshot_stage(loaded, "validated", dag_id="datacentric_ingest", interval_key="20261031T000000Z",
                          versioner=Versioner(library_repo.root, remote=str(tmp_path / "remote")),
                          repository=library_repo)

    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(cli_root))
    monkeypatch.setenv("DATACENTRIC_DVC_REMOTE", str(tmp_path / "remote"))
    code = main(["snapshot", "--manifest", str(bundled_manifest), "--dag-id", "datacentric_ingest",
                 "--stage", "validated", "--interval", "20261031T000000Z"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["data_state_id"] == snap.data_state_id
    assert printed["tag"] == snap.tag == "datacentric_ingest/validated/20261031T000000Z"


def _built_by(root: Path, run_id: str, loaded, rows: int = 50) -> DataRepository:
    """A repository as a run `run_id` leaves it: a raw file and the state file's facts and run record."""
    from datacentric.sources.state import record_source

    repo = DataRepository(root).init()
    repo.publish_frame("raw", "reviews/a.parquet", pd.DataFrame({"id": range(rows), "text": ["x"] * rows}),
                       run_id=run_id)
    record_source(repo, loaded.name, "reviews", {"type": "file", "files": {"a.jsonl": "abc"}, "rows": rows},
                  {"last_run": {"run_id": run_id, "at": f"2026-12-0{len(run_id) % 9 + 1}T00:00:00+00:00"}},
                  run_id=run_id)
    return repo


def test_the_same_content_gets_the_same_id_whoever_made_it_and_whenever(
    tmp_path: Path, bundled_manifest: Path
) -> None:
    loaded = load_manifest(bundled_manifest)
    first = _built_by(tmp_path / "a", "scheduled__2026-10-31T00:00:00+00:00", loaded)
    second = _built_by(tmp_path / "b", "backfill__2026-10-31T00:00:00+00:00_retry", loaded)
    # The run records differ: the change logs and the state files' last runs name other runs.
    assert first.root.joinpath("changelog.jsonl").read_bytes() != second.root.joinpath("changelog.jsonl").read_bytes()
    assert first.state_path(loaded.name).read_bytes() != second.state_path(loaded.name).read_bytes()
    snaps = [snapshot_stage(loaded, "validated", dag_id="d", interval_key="20261031T000000Z",
                            versioner=Versioner(repo.root), repository=repo, run={"run_id": run})
             for repo, run in ((first, "r1"), (second, "r2"))]
    assert snaps[0].pins["data_tree"] != snaps[1].pins["data_tree"]  # recorded, not part of the id
    assert snaps[0].data_state_id == snaps[1].data_state_id
    # Other content, other id.
    third = _built_by(tmp_path / "c", "scheduled__2026-10-31T00:00:00+00:00", loaded, rows=51)
    other = snapshot_stage(loaded, "validated", dag_id="d", interval_key="20261031T000000Z",
                           versioner=Versioner(third.root), repository=third)
    assert other.data_state_id != snaps[0].data_state_id


def test_a_re_run_that_only_records_itself_is_the_tagged_state(tmp_path: Path, bundled_manifest: Path) -> None:
    from datacentric.sources.state import record_source

    loaded = load_manifest(bundled_manifest)
    repo = _built_by(tmp_path / "repo", "r1", loaded)
    versioner = Versioner(repo.root)
    first = snapshot_stage(loaded, "validated", dag_id="d", interval_key="i1", versioner=versioner, repository=repo)
    # The re-run finds the same facts but records its own run: only the state file's run record changes.
    record_source(repo, loaded.name, "reviews", {"type": "file", "files": {"a.jsonl": "abc"}, "rows": 50},
                  {"last_run": {"run_id": "r2", "at": "2026-12-08T00:00:00+00:00"}}, run_id="r2")
    again = snapshot_stage(loaded, "validated", dag_id="d", interval_key="i1", versioner=versioner, repository=repo)
    assert again.reproduction["status"] == "identical"
    assert (again.tag, again.data_state_id) == (first.tag, first.data_state_id)
    tags = subprocess.run(["git", "tag"], cwd=repo.root, capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["d/validated/i1"]
    # New facts (a source file changed) are a new state.
    record_source(repo, loaded.name, "reviews", {"type": "file", "files": {"a.jsonl": "abd"}, "rows": 50}, None)
    changed = snapshot_stage(loaded, "validated", dag_id="d", interval_key="i1", versioner=versioner, repository=repo)
    assert changed.tag == "d/validated/i1+2" and changed.data_state_id != first.data_state_id
