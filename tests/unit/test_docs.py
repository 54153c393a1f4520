"""The documentation says what the code does: the generated reference pages and the quoted examples
are current, and every path, module, command, Make target and setting the pages name exists.

`make docs` regenerates the pages (scripts/docs_reference.py) and builds the site with
`mkdocs build --strict`, which checks the links between pages; these tests check what MkDocs cannot
see: the code the pages point at, and README.md's links into docs/.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
PAGES = sorted((PROJECT / "docs").rglob("*.md"))
README = PROJECT / "README.md"
TEXTS = [README, *PAGES]
CODE_SPAN = re.compile(r"`([^`\n]+)`")
TOP_FOLDERS = ("include/", "plugins/", "dags/", "tests/", "bench/", "scripts/", "docs/", ".ci/")
TOP_FILES = {"Makefile", "Dockerfile", "docker-compose.yaml", "mkdocs.yml", "pyproject.toml", "requirements.in",
             "requirements.txt", "requirements-dev.in", "requirements-dev.txt", "README.md"}


def _generator():
    spec = importlib.util.spec_from_file_location("docs_reference", PROJECT / "scripts" / "docs_reference.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("docs_reference", module)
    spec.loader.exec_module(module)
    return module


def _spans(path: Path) -> list[str]:
    return CODE_SPAN.findall(path.read_text())


def _relative(path: Path) -> str:
    return str(path.relative_to(PROJECT))


def test_reference_pages_and_quotes_are_current() -> None:
    stale = _generator().stale_pages()
    assert not stale, ("not current: " + ", ".join(_relative(p) for p in stale)
                       + "; run `make docs` (or .venv/bin/python scripts/docs_reference.py) and commit the pages")


def test_every_quote_names_an_existing_section() -> None:
    generator = _generator()
    quotes = [(page, m) for page in PAGES for m in generator.QUOTE.finditer(page.read_text())]
    assert quotes, "no page quotes an example"
    for page, match in quotes:
        code = generator.quoted_code(PROJECT / match.group("path"), match.group("section"))
        assert code.strip(), f"{_relative(page)} quotes an empty section of {match.group('path')}"


def _named_paths(path: Path) -> set[str]:
    named = set()
    for span in _spans(path):
        token = span.split()[0] if span.split() else ""
        if any(mark in token for mark in "<>*…{}$"):
            continue
        if token.startswith(TOP_FOLDERS) or token in TOP_FILES:
            named.add(token.rstrip("/").split("#")[0])
    return named


@pytest.mark.parametrize("page", TEXTS, ids=_relative)
def test_paths_named_exist(page: Path) -> None:
    missing = sorted(p for p in _named_paths(page) if not (PROJECT / p).exists())
    assert not missing, f"{_relative(page)} names files that do not exist: {missing}"


def _anchors(markdown: Path) -> set[str]:
    """Heading anchors as MkDocs' toc extension makes them (lowercase, punctuation dropped, dashes)."""
    anchors = set()
    in_code = False
    for line in markdown.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            text = re.sub(r"[^\w\s-]", "", text)
            anchors.add(re.sub(r"[-\s]+", "-", text).strip("-"))
    return anchors


def test_readme_links_resolve() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert any(link.startswith("docs/") for link in local), "README.md links to no docs page"
    for link in local:
        target, _, anchor = link.partition("#")
        path = PROJECT / target if target else README
        assert path.exists(), f"README.md links to {target}, which does not exist"
        if anchor:
            assert anchor in _anchors(path), f"README.md links to {link}: no heading with that anchor"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            continue
        target = importlib.import_module(module_name)
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


@pytest.mark.parametrize("page", TEXTS, ids=_relative)
def test_modules_and_names_named_exist(page: Path) -> None:
    dotted = {span for span in _spans(page) if re.fullmatch(r"datacentric(_airflow)?(\.\w+)+", span)}
    missing = sorted(name for name in dotted if not _resolves(name))
    assert not missing, f"{_relative(page)} names what the code does not have: {missing}"


def _commands(path: Path) -> list[str]:
    return re.findall(r"python -m datacentric ([a-z][a-z-]*)", path.read_text())


def _make_targets(path: Path) -> list[str]:
    """`make X` in code spans, and lines of code blocks that start with it."""
    return re.findall(r"(?:^|`)make ([a-z][a-z-]*)", path.read_text(), flags=re.M)


def test_commands_and_make_targets_named_exist() -> None:
    from datacentric.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    targets = set(re.findall(r"^([a-z][a-z-]*):", (PROJECT / "Makefile").read_text(), flags=re.M))
    for page in TEXTS:
        unknown = sorted(set(_commands(page)) - set(commands))
        assert not unknown, f"{_relative(page)} names commands `python -m datacentric` does not have: {unknown}"
        unknown = sorted(set(_make_targets(page)) - targets)
        assert not unknown, f"{_relative(page)} names Make targets the Makefile does not have: {unknown}"


def test_settings_page_lists_every_variable_the_code_reads() -> None:
    pattern = re.compile(r"DATACENTRIC_[A-Z_]*[A-Z]")
    read = {name for folder in ("include", "plugins") for path in (PROJECT / folder).rglob("*.py")
            for name in pattern.findall(path.read_text())}
    documented = set(pattern.findall((PROJECT / "docs" / "reference" / "settings.md").read_text()))
    assert read, "found no setting in the code"
    assert read - documented == set(), f"settings the code reads but the page does not list: {read - documented}"
    assert documented - read == set(), f"settings the page lists but the code does not read: {documented - read}"
