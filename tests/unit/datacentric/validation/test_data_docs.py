"""Data Docs pages that work offline (scripts, styles, fonts and logo from the site itself) and state the
quarantine gate's verdict beside Great Expectations' own; the pages are built by Great Expectations for
real."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

import great_expectations
import pytest
from datacentric.validation.data_docs import (
    ASSETS,
    CDN_FILES,
    THIRD_PARTY,
    external_assets,
    install_assets,
    localize,
    mark_gate,
    to_root,
    with_gate_banner,
)
from datacentric.validation.suite import docs_root, validate_source

from tests.unit.datacentric.validation.test_validation import reviews_frame, reviews_source

TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
# Where a page loads something from: <script src>, <link href>, <img src>.
REFERENCE = re.compile(r"<(?:script|link|img)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)[\"']", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    """A Data Docs site with one run of a source that quarantines 2 of 40 rows and passes its gate."""
    root = tmp_path_factory.mktemp("gx")
    frame = reviews_frame(40)
    frame.loc[[3, 7], "rating"] = 0
    result = validate_source("reviews", reviews_source(max_quarantine_fraction=0.1), frame, gx_root=root,
                             run_id="manual__2026-10-31")
    assert result.success and result.rows_quarantined == 2
    return docs_root(root).resolve(), result


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_cdn_address_of_the_gx_templates_has_a_local_file() -> None:
    cdn = set()
    for template in TEMPLATES.glob("*.j2"):
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", template.read_text(encoding="utf-8")):
            cdn.update(re.findall(r"(?:src|href)=\"(https?://[^\"]+)\"", tag))
    assert cdn, "no CDN address found: GX's templates moved"
    assert cdn - set(CDN_FILES) == set(), "GX asks for files the project does not ship"
    for relative in CDN_FILES.values():
        assert (THIRD_PARTY / relative).is_file(), relative


def test_each_shipped_package_has_its_license() -> None:
    packages = {Path(relative).parts[0] for relative in CDN_FILES.values()}
    for package in packages:
        assert any((THIRD_PARTY / package).glob("LICENSE*")), f"{package} has no license file"


def test_the_pinned_scripts_are_the_cdn_files_byte_for_byte() -> None:
    """GX pins two scripts with Subresource Integrity: the shipped copies have those digests."""
    text = (TEMPLATES / "js_script_imports.j2").read_text(encoding="utf-8")
    pinned = re.findall(r"src=\"([^\"]+)\" integrity=\"sha384-([^\"]+)\"", text)
    assert len(pinned) == 2
    for url, digest in pinned:
        data = (THIRD_PARTY / CDN_FILES[url]).read_bytes()
        assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest, url


def test_built_pages_load_no_script_or_style_from_the_network(site) -> None:
    folder, result = site
    built = pages(folder)
    assert {Path(result.data_docs), Path(result.data_docs_page), folder / "expectations" / "reviews.html"} <= set(
        built)
    for page in built:
        text = page.read_text(encoding="utf-8")
        assert external_assets(text) == [], page
        assert "amazonaws.com" not in text, page  # the logo too
        assert "integrity=" not in text, page  # a file:// page cannot load a pinned script in CORS mode


def test_every_asset_a_built_page_references_is_in_the_site(site) -> None:
    folder, _ = site
    referenced = 0
    for page in pages(folder):
        for reference in REFERENCE.findall(page.read_text(encoding="utf-8")):
            if reference.startswith("#") or reference.endswith(".html"):
                continue
            assert not re.match(r"[a-z]+:", reference), (page, reference)
            target = (page.parent / reference.split("?")[0]).resolve()
            assert target.is_file(), (page, reference)
            assert target.is_relative_to(folder)
            referenced += 1
    assert referenced > 3 * len(CDN_FILES) // 2
    # The stylesheets' own references (Font Awesome's fonts) resolve in the copy too.
    css = folder / ASSETS / CDN_FILES["https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css"]
    fonts = re.findall(r"url\((\.\./webfonts/[^)]+)\)", css.read_text(encoding="utf-8"))
    assert fonts and all((css.parent / font).resolve().is_file() for font in fonts)


def test_localize_is_relative_to_the_page_and_idempotent() -> None:
    page = ('<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
            '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" '
            'integrity="sha384-x" crossorigin="anonymous"></script>'
            '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&x=2"/>'
            '<a href="https://greatexpectations.io">GX</a>')
    once = localize(page, "../../")
    assert once == (f'<link rel="stylesheet" href="../../{ASSETS}/bootstrap-4.3.1/css/bootstrap.min.css"/>'
                    f'<script src="../../{ASSETS}/popper.js-1.12.9/umd/popper.min.js"></script>'
                    '<img src="../../static/images/logo-long.png"/>'
                    '<a href="https://greatexpectations.io">GX</a>')  # links stay links
    assert localize(once, "../../") == once
    assert external_assets(page) and not external_assets(once)
    assert to_root(Path("/s/validations/a/b/c/p.html"), Path("/s")) == "../../../../"
    assert to_root(Path("/s/index.html"), Path("/s")) == ""


def test_assets_are_copied_once_and_refreshed_when_they_change(tmp_path: Path) -> None:
    folder = install_assets(tmp_path)
    assert folder == tmp_path / ASSETS
    copied = folder / CDN_FILES["https://code.jquery.com/jquery-3.7.1.min.js"]
    assert copied.read_bytes() == (THIRD_PARTY / CDN_FILES["https://code.jquery.com/jquery-3.7.1.min.js"]).read_bytes()
    before = copied.stat().st_mtime_ns
    install_assets(tmp_path)
    assert copied.stat().st_mtime_ns == before  # nothing copied again
    (folder / ".fingerprint").write_text("an older copy")
    (folder / "stale.js").write_text("left from an older copy")
    install_assets(tmp_path)
    assert not (folder / "stale.js").exists() and copied.is_file()
    assert [p.name for p in tmp_path.joinpath("static").iterdir()] == ["datacentric"]  # no staging left


SUMMARY = {"source": "reviews", "success": True, "rows_in": 29979, "rows_valid": 29939, "rows_quarantined": 40,
           "quarantine_fraction": 0.001334, "max_quarantine_fraction": 0.05, "problems": [], "warnings": [],
           "failed_expectations": [{"id": "rating: expect_column_values_to_be_between(min=1, max=5)"}]}


def banner_text(page: str) -> str:
    start, end = page.index("<!-- datacentric:gate -->"), page.index("<!-- /datacentric:gate -->")
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start:end])).strip())


def test_the_banner_states_a_passing_gate_beside_gx_failed(site) -> None:
    folder, result = site
    page = Path(result.data_docs_page)
    mark_gate(page, result.summary())
    text = page.read_text(encoding="utf-8")
    assert "Failed" in text  # GX's own status: expectations failed on the quarantined rows
    banner = banner_text(text)
    assert banner.startswith("Quarantine gate: passed 2 of 40 rows quarantined (5.00% ≤ limit 10.00%), 38 valid.")
    assert "the gate passes a source whose quarantined share stays within its max_quarantine_fraction" in banner
    assert text.index("datacentric:gate") < text.index('id="section-1"')  # above GX's overview
    mark_gate(page, result.summary())  # a second verdict replaces the first
    assert page.read_text(encoding="utf-8").count('id="datacentric-gate"') == 1


def test_the_banner_of_a_failed_gate_lists_why() -> None:
    failed = SUMMARY | {"success": False, "rows_quarantined": 2000, "rows_valid": 27979, "quarantine_fraction": 0.0667,
                        "problems": ["quarantined 2000 of 29979 rows (6.67%), more than max_quarantine_fraction 5.00%",
                                     "schema drift: column <b> added"],
                        "warnings": ["text (warning): 3 row(s) break it"]}
    page = with_gate_banner('<html><body><div id="section-1">GX</div></body></html>', failed)
    banner = banner_text(page)
    assert banner.startswith("Quarantine gate: FAILED 2,000 of 29,979 rows quarantined (6.67% > limit 5.00%)")
    assert "more than max_quarantine_fraction 5.00%" in banner and "Nothing was published" in banner
    assert "&lt;b&gt;" in page and "<b>" not in page  # text from data is escaped
    assert "text (warning): 3 row(s) break it" in banner
    assert 'class="alert alert-danger' in page
    assert with_gate_banner("<html><body><p>no overview</p></body></html>", SUMMARY).startswith(
        "<html><body><!-- datacentric:gate -->")
