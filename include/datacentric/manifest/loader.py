"""Reading a manifest: YAML parsed and validated against the model; every error names the file, the
line and the field path, and says what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from datacentric.errors import ManifestError
from datacentric.hashing import sha256_text
from datacentric.manifest.model import SOURCE_TYPES, LoadedManifest, Manifest


def line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each YAML node path to its 1-based line, so errors can point into the file."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def nearest_line(lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def parse_manifest(text: str, path: Path | str = "<manifest>") -> LoadedManifest:
    path = Path(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ManifestError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}:1: expected a mapping with 'name' and 'sources' at the top")
    try:
        spec = Manifest.model_validate(raw)
    except ValidationError as exc:
        lines = line_index(text)
        problems = []
        for err in exc.errors():
            # Drop the discriminator tag pydantic inserts for tagged unions ("file", "sql", ...).
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in SOURCE_TYPES))
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "type")  # point at the `type:` line itself
            line = nearest_line(lines, loc)
            field = ".".join(str(p) for p in loc) or "<top>"
            problems.append(f"{path}:{line or '?'}: {field}: {err['msg']}")
        raise ManifestError("invalid manifest:\n  " + "\n  ".join(problems)) from None
    return LoadedManifest(path=path.resolve() if path.exists() else path, sha256=sha256_text(text), spec=spec)


def load_manifest(path: str | Path) -> LoadedManifest:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest file not found") from None
    except IsADirectoryError:
        found = sorted([*path.glob("manifest.yaml"), *path.glob("*/manifest.yaml")])[:1]
        hint = f", e.g. {found[0]}" if found else ""
        raise ManifestError(f"{path}: a folder, not a manifest file; give the manifest's YAML file{hint}") from None
    except PermissionError:
        raise ManifestError(f"{path}: the manifest file cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_manifest(text, path)


def manifest_json_schema() -> dict[str, Any]:
    """The JSON schema of the manifest, for editor completion (yaml-language-server)."""
    return Manifest.model_json_schema(by_alias=True)
