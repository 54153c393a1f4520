"""The manifest corpus: each tests/corpus/manifest/<case>.yaml starts with `# expect:` lines, the text
the loader's error must contain ("ok": the manifest loads). See tests/corpus/README.md."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from datacentric.errors import ManifestError
from datacentric.manifest import load_manifest, parse_manifest
from datacentric.manifest.loader import MAX_BYTES

CASES = sorted((Path(__file__).parent / "manifest").glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    return [line.removeprefix("# expect:").strip() for line in path.read_text().splitlines()
            if line.startswith("# expect:")]


def test_corpus_is_there() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_manifest_case(case: Path) -> None:
    expected = expectations(case)
    assert expected, f"{case.name} has no '# expect:' line"
    if expected == ["ok"]:
        load_manifest(case)
        return
    with pytest.raises(ManifestError) as info:
        load_manifest(case)
    message = str(info.value)
    assert str(case) in message
    for text in expected:
        assert text in message


def test_yaml_11_booleans_stay_text() -> None:
    loaded = load_manifest(Path(__file__).parent / "manifest" / "yaml11_booleans_stay_text.yaml")
    allowed = loaded.spec.sources["items"].columns["country"].allowed
    assert allowed == ["DE", "FR", "NO", "yes", "on", "off", "y", "n"]


def test_true_and_false_are_still_booleans() -> None:
    loaded = load_manifest(Path(__file__).parent / "manifest" / "yaml11_booleans_stay_text.yaml")
    assert loaded.spec.sources["items"].columns["id"].nullable is False


def test_alias_bomb_stays_small() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ManifestError, match="expands to more than"):
        load_manifest(Path(__file__).parent / "manifest" / "alias_bomb_under_unknown_key.yaml")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: far below a GB


def test_ordinary_aliases_still_work() -> None:
    text = (Path(__file__).parent / "manifest" / "timestamp_format_timezone_path_ok.yaml").read_text()
    text = text.replace("owner: data-team", "owner: &team data-team\n    description: *team")
    assert parse_manifest(text).spec.sources["items"].description == "data-team"


def test_oversized_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: big\n" + "# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(ManifestError, match=rf"big.yaml: the manifest is \d+ bytes long; at most {MAX_BYTES}"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="characters long"):
        parse_manifest(path.read_text(), path)
