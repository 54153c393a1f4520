"""Reading a manifest: YAML parsed and validated against the model; every error names the file, the
line and the field path, and says what was expected.

The YAML is read with YAML 1.2 core-schema scalars: only true/false (any case) are booleans, so
`NO`, `yes`, `on` and `off` stay text and `12:30` is not a number. A key given twice in one mapping
is an error naming both lines. Aliases are expanded at most to `MAX_NODES` nodes (a "billion laughs"
document is refused before anything walks it) and a manifest is at most `MAX_BYTES` long.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from datacentric.errors import ManifestError
from datacentric.hashing import sha256_text
from datacentric.manifest.model import SOURCE_TYPES, LoadedManifest, Manifest

MAX_BYTES = 1_000_000  # a manifest is a page of YAML; a megabyte is far more than any real one
MAX_NODES = 100_000  # YAML nodes after alias expansion
INT64_MAX = 2**63 - 1

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans, integers and floats."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if len(text) > 40:  # far beyond int64; int() of thousands of digits is refused by Python itself
        raise _TooLarge(node)
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0o"):
        value = int(digits[2:], 8)
    elif digits.startswith("0x"):
        value = int(digits[2:], 16)
    else:
        value = int(digits, 10)
    if not -INT64_MAX - 1 <= sign * value <= INT64_MAX:
        raise _TooLarge(node)
    return sign * value


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text.endswith(".nan"):
        return float("nan")
    return float(text)


_Loader.add_constructor(_BOOL, _construct_bool)
_Loader.add_constructor(_INT, _construct_int)
_Loader.add_constructor(_FLOAT, _construct_float)


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node) -> None:
        super().__init__(node)
        self.node = node


def _compose(text: str, path: Path) -> yaml.Node | None:
    loader = None
    try:
        loader = _Loader(text)  # checks the characters: a control character is a ReaderError here
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.reader.ReaderError):
            line = text[: exc.position].count("\n") + 1
            shown = chr(exc.character) if isinstance(exc.character, int) else exc.character
            raise ManifestError(f"{path}:{line}: not valid YAML: character {shown!r} is not allowed "
                                "in YAML text") from None
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ManifestError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Refuse alias bombs (counting every node as expanded, without expanding) and duplicate keys."""
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_stack:
            raise ManifestError(f"{path}:{node.start_mark.line + 1}: a YAML alias refers to itself")
        on_stack.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    line = k.start_mark.line + 1
                    ident = (k.tag, k.value)
                    if ident in seen:
                        raise ManifestError(f"{path}:{line}: key {k.value!r} is given twice in the same mapping, "
                                            f"on lines {seen[ident]} and {line}; a YAML reader would keep "
                                            "only the last one")
                    seen.setdefault(ident, line)
                total += size(k) + size(v)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_NODES:
                    break
        on_stack.discard(key)
        sizes[key] = total
        if total > MAX_NODES:
            raise ManifestError(f"{path}:{node.start_mark.line + 1}: the manifest expands to more than {MAX_NODES} "
                                "YAML nodes (aliases repeating anchors); a manifest this large is refused")
        return total

    size(root)


def _construct(root: yaml.Node, text: str, path: Path) -> Any:
    loader = _Loader(text)
    try:
        return loader.construct_document(root)
    except _TooLarge as exc:
        shown = exc.node.value if len(exc.node.value) <= 24 else exc.node.value[:20] + "..."
        raise ManifestError(f"{path}:{exc.node.start_mark.line + 1}: {_path_of(root, exc.node)}: the integer "
                            f"{shown} is too large (integers are at most {INT64_MAX}; write a number such as 1e30 "
                            "where a float is meant)") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ManifestError(f"{path}: not a usable YAML document: {exc}") from None
    finally:
        loader.dispose()


def _path_of(root: yaml.Node, target: yaml.Node) -> str:
    """The dotted field path of `target` in the document (each node visited once)."""
    walked: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, at = stack.pop()
        if node is target:
            return ".".join(str(p) for p in at) or "<top>"
        if id(node) in walked:
            continue
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend((v, (*at, k.value)) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, (*at, i)) for i, v in enumerate(node.value))
    return "<top>"


def line_index(root: yaml.Node | str | None) -> dict[tuple[str | int, ...], int]:
    """Map each YAML node path to its 1-based line, so errors can point into the file.

    Each node is walked once: a node reached again through an alias keeps the line of its anchor.
    """
    if isinstance(root, str):
        root = yaml.compose(root, Loader=_Loader)
    lines: dict[tuple[str | int, ...], int] = {}
    walked: set[int] = set()

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

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


def read_yaml(text: str, path: Path | str = "<manifest>") -> tuple[Any, yaml.Node | None]:
    """The manifest's YAML as Python values, and its node tree (for line numbers)."""
    path = Path(path)
    if len(text) > MAX_BYTES:
        raise ManifestError(f"{path}: the manifest is {len(text)} characters long; at most {MAX_BYTES} are read")
    root = _compose(text, path)
    if root is None:
        return None, None
    _check_nodes(root, path)
    return _construct(root, text, path), root


def parse_manifest(text: str, path: Path | str = "<manifest>") -> LoadedManifest:
    path = Path(path)
    raw, root = read_yaml(text, path)
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}:1: expected a mapping with 'name' and 'sources' at the top")
    try:
        spec = Manifest.model_validate(raw)
    except ValidationError as exc:
        lines = line_index(root)
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
        size = path.stat().st_size
        if size > MAX_BYTES and path.is_file():
            raise ManifestError(f"{path}: the manifest is {size} bytes long; at most {MAX_BYTES} are read")
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
