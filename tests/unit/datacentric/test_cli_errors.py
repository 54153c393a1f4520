"""The command line's errors a user can act on: each names the argument or file, exits 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from datacentric.cli import main


@pytest.mark.parametrize(("argv", "message"), [
    (["ingest", "--start", "notadate"], "--start/--end: 'notadate' is not an ISO date or date-time"),
    (["ingest", "--start", "2026-10-05", "--end", "2026-10-01"],
     "window start 2026-10-05T00:00:00+00:00 is not before its end 2026-10-01T00:00:00+00:00 (--start/--end"),
    (["check", "{folder}"], "{folder}: a folder, not a manifest file; give the manifest's YAML file, e.g. "
                            "{folder}/shop/manifest.yaml"),
    (["check", "{folder}/missing.yaml"], "{folder}/missing.yaml: manifest file not found"),
])
def test_bad_arguments_get_a_message_and_exit_2(argv: list[str], message: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "manifests"
    (folder / "shop").mkdir(parents=True)
    (folder / "shop" / "manifest.yaml").write_text("name: shop\n")
    monkeypatch.setenv("DATACENTRIC_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "var" / "repository"))
    monkeypatch.setenv("DATACENTRIC_LANDING", str(tmp_path / "landing"))
    code = main([a.format(folder=folder) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {message.format(folder=folder)}" in err
    assert "Traceback" not in err
