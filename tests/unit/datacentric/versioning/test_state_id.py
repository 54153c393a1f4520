"""What a data state pins is defined once, in the library: the command line and the library name the
same content with the same data state id, and the pins follow the definitions they name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
