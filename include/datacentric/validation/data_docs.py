"""Great Expectations Data Docs that a person can read offline, with the gate's verdict on them.

Two things GX's pages do not do, done to every page the validation stage builds (and, by the Airflow
plugin, to every page it serves, so pages built before this module stay readable too):

* **local assets**: GX's templates load Bootstrap, jQuery, Font Awesome, Vega and friends from CDNs,
  so without internet the pages come out unstyled. The same files ship in `third_party/` (each npm
  package's files unchanged, with its license; see its README); `install_assets` copies them into the
  site once and `localize` points every CDN address at the copy, by a relative path, so a page works
  from the plugin's web app and from `file://` alike.
* **the gate's verdict**: GX marks a run "Failed" as soon as an expectation fails, while the project's
  gate lets a source pass when the failing rows are quarantined and their share stays within the
  manifest's `max_quarantine_fraction`. `mark_gate` puts the gate's verdict (quarantined rows, share,
  limit, and why it failed when it did) in a banner above GX's own overview.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

THIRD_PARTY = Path(__file__).resolve().parent / "third_party"
ASSETS = "static/datacentric"  # folder of the copied files, under the site's root

# Each CDN address in GX's templates (great_expectations/render/view/templates) -> its file in THIRD_PARTY.
CDN_FILES: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker-1.9.0/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker-1.9.0/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark-1.1.0/css/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "fontawesome-free-6.6.0/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/umd/popper.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
}
# The navigation bar's logo (an <img>, and a background image of the suite page's inline styles)
# comes from GX's web assets bucket; the site ships the logo in its own static/images.
_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/"
                   r"(?:logo-long|full_logo_dark)\.png[^\"')\s]*")
_LOGO_FILE = "static/images/logo-long.png"
# GX points some pages at the site's own images one folder short (a run page's favicon); any relative
# path to static/images/ is made the page's path to the site's root.
_SITE_IMAGES = re.compile(r"(?<=[\"'])(?:\./|\.\./)*static/images/")
_CDN = re.compile("|".join(re.escape(url) for url in sorted(CDN_FILES, key=len, reverse=True)))
# Subresource Integrity and CORS mode on a tag whose address became local: a file:// page cannot load
# a script in CORS mode, and the local copy needs no pinning (the tests check it is the CDN's file).
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_SRI = re.compile(r"\s+(?:integrity|crossorigin)=(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
# An external script or stylesheet left over (a GX template this module does not know yet).
_EXTERNAL = re.compile(
    r"<script\b[^>]*\bsrc=[\"']?(https?:)?//|<link\b(?=[^>]*\brel=[\"']?stylesheet)[^>]*\bhref=[\"']?(https?:)?//",
    re.IGNORECASE)

_BANNER_START = "<!-- datacentric:gate -->"
_BANNER_END = "<!-- /datacentric:gate -->"
_BANNER = re.compile(re.escape(_BANNER_START) + ".*?" + re.escape(_BANNER_END) + r"\n?", re.DOTALL)


# -- local assets ------------------------------------------------------------------------------


def to_root(page: Path, site: Path) -> str:
    """The relative path from `page` up to the root of `site` ("" for a page at the root)."""
    depth = len(Path(page).resolve().relative_to(Path(site).resolve()).parts) - 1
    return "../" * depth


def localize(text: str, root: str) -> str:
    """`text` (a Data Docs page) with every CDN script, stylesheet and logo address replaced by the
    project's copy under `root` (the page's relative path to the site's root), and the site's own
    images addressed from `root`. Idempotent."""
    local = f"{root}{ASSETS}/"
    text = _CDN.sub(lambda m: local + CDN_FILES[m.group(0)], text)
    text = _LOGO.sub(root + _LOGO_FILE, text)
    text = _SITE_IMAGES.sub(root + "static/images/", text)
    return _TAG.sub(lambda m: _SRI.sub("", m.group(0)) if local in m.group(0) else m.group(0), text)


def external_assets(text: str) -> list[str]:
    """The `<script src>` and stylesheet `<link href>` tags of `text` that still load from elsewhere."""
    return [m.group(0) for m in _EXTERNAL.finditer(text)]


def asset_file(relative: str) -> Path | None:
    """The shipped file for a path under the site's `static/datacentric/` (None if there is none)."""
    target = (THIRD_PARTY / relative).resolve()
    if not target.is_relative_to(THIRD_PARTY) or not target.is_file() or target.name.endswith(".md"):
        return None
    return target


def _fingerprint() -> str:
    """Changes whenever the shipped files do (their names and sizes): a site's copy is then refreshed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in THIRD_PARTY.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(THIRD_PARTY).as_posix()}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def install_assets(site: Path) -> Path:
    """Copy the shipped files into `site`/static/datacentric, once (again only when they change).

    The copy is made under a temporary name and renamed into place, so a page never sees half of it.
    Callers that share a site hold its lock (the validation stage does)."""
    site = Path(site)
    folder = site / ASSETS
    stamp = _fingerprint()
    if (folder / ".fingerprint").is_file() and (folder / ".fingerprint").read_text() == stamp:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".datacentric-", dir=folder.parent))
    try:
        shutil.copytree(THIRD_PARTY, staging, dirs_exist_ok=True)
        (staging / ".fingerprint").write_text(stamp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
            folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


def localize_page(page: Path, site: Path) -> bool:
    """Point one built page at the local assets (rewritten in place, atomically); True if it changed."""
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    localized = localize(text, to_root(page, site))
    if localized == text:
        return False
    _write(page, localized)
    return True


# -- the gate's verdict -------------------------------------------------------------------------


def gate_banner(summary: Mapping[str, Any]) -> str:
    """The banner that states the gate's verdict beside GX's, from a validation summary (the keys of
    `ValidationResult.summary()`: success, rows_in, rows_valid, rows_quarantined,
    quarantine_fraction, max_quarantine_fraction, problems, warnings)."""
    rows_in, quarantined = int(summary["rows_in"]), int(summary["rows_quarantined"])
    share, limit = float(summary["quarantine_fraction"]), float(summary["max_quarantine_fraction"])
    passed = bool(summary["success"])
    relation = "≤" if share <= limit else ">"
    counts = (f"{quarantined:,} of {rows_in:,} rows quarantined ({share:.2%} {relation} limit {limit:.2%}), "
              f"{int(summary['rows_valid']):,} valid")
    lines = [f'<div id="datacentric-gate" class="alert {"alert-success" if passed else "alert-danger"} mb-3" '
             'role="status">',
             f'<h5 class="m-0">Quarantine gate: {"passed" if passed else "FAILED"}</h5>',
             f"<div>{html.escape(counts)}.</div>"]
    if passed and (quarantined or summary.get("failed_expectations")):
        lines.append("<div><small>Great Expectations reports the run as Failed because expectations failed on "
                     "the quarantined rows; the gate passes a source whose quarantined share stays within its "
                     "max_quarantine_fraction, and publishes the valid rows.</small></div>")
    if passed:
        lines.append("<div><small>The valid rows were published to the validated zone.</small></div>")
    else:
        lines.append("<div>Why the gate failed:</div><ul class=\"mb-0\">"
                     + "".join(f"<li>{html.escape(str(p))}</li>" for p in summary.get("problems", []))
                     + "</ul><div><small>Nothing was published to the validated zone.</small></div>")
    warnings = [str(w) for w in summary.get("warnings", [])]
    if warnings:
        lines.append("<div>Warnings:</div><ul class=\"mb-0\">"
                     + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    lines.append("</div>")
    return _BANNER_START + "\n" + "\n".join(lines) + "\n" + _BANNER_END + "\n"


def with_gate_banner(text: str, summary: Mapping[str, Any]) -> str:
    """`text` (a validation run's page) with the gate's banner above GX's overview, replacing an
    earlier banner (so a later verdict, e.g. with schema drift, can restate it)."""
    banner = gate_banner(summary)
    text = _BANNER.sub("", text)
    anchor = re.search(r'<div id="section-1"', text)
    if anchor is None:
        anchor = re.search(r"<body\b[^>]*>\s*", text, re.IGNORECASE)
        at = anchor.end() if anchor else 0
    else:
        at = anchor.start()
    return text[:at] + banner + text[at:]


def mark_gate(page: Path, summary: Mapping[str, Any]) -> None:
    """Put the gate's verdict on a built validation page (in place, atomically)."""
    page = Path(page)
    _write(page, with_gate_banner(page.read_text(encoding="utf-8"), summary))


def _write(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
