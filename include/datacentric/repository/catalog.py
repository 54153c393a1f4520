"""The manifest as a readable catalog: one HTML page with every source's schema, owner, freshness and
last run, and the join graph drawn as a picture (an SVG made here, no graphviz needed).

What the manifest declares comes from the manifest; what runs learned (rows, files, watermark, last
run, schema as delivered) comes from the repository's state file; orphan counts per relationship
come from the last relationship check, when there was one. Freshness is judged at render time, so
the page is rendered on demand (`python -m datacentric catalog`) and not kept in the repository.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from datacentric.manifest.model import LoadedManifest
from datacentric.repository.store import DataRepository

RELATIONSHIPS_REPORT = ("reports", "validation/relationships.json")

_BOX_WIDTH = 230
_LINE = 18
_LAYER_GAP = 430
_ROW_GAP = 36


def render_catalog(loaded: LoadedManifest, repo: DataRepository | None = None, *, now: datetime | None = None) -> str:
    """The catalog page of a manifest, with the state of `repo` if given."""
    from datacentric.sources.state import read_state

    now = now or datetime.now(UTC)
    spec = loaded.spec
    state = read_state(repo, spec.name)["sources"] if repo is not None and repo.state_path(spec.name).exists() else {}
    orphans = _orphans(repo)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Catalog: {escape(spec.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Catalog of <code>{escape(spec.name)}</code></h1>",
        f"<p class=lead>{escape(spec.description)}</p>" if spec.description else "",
        f"<p class=meta>Manifest <code>{escape(str(loaded.path))}</code> (sha256 {loaded.sha256[:12]}); "
        f"rendered {now.isoformat(timespec='seconds')}.</p>",
        "<h2>Sources</h2>",
        _overview(spec, state, now),
        "<h2>How the sources tie together</h2>",
        join_graph_svg(loaded),
        _relationships(spec, orphans),
    ]
    for name, source in spec.sources.items():
        parts.append(_source_section(name, source, state.get(name) or {}, now))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def join_graph_svg(loaded: LoadedManifest) -> str:
    """Sources as boxes (keys and join columns listed), relationships as arrows from the column that
    refers to the column referred to. Referred-to sources stand left, those referring to them right."""
    spec = loaded.spec
    edges = [(rel.split()) for rel in spec.relationships]
    layer = {name: 0 for name in spec.sources}
    for _ in range(len(spec.sources)):  # longest path, bounded so a cycle cannot loop forever
        for (child, _c), (parent, _p) in edges:
            if child != parent and layer[child] < layer[parent] + 1 and layer[parent] + 1 < len(spec.sources):
                layer[child] = layer[parent] + 1
    joined: dict[str, set[str]] = {name: set() for name in spec.sources}
    for (child, ccol), (parent, pcol) in edges:
        joined[child].add(ccol)
        joined[parent].add(pcol)
    boxes: dict[str, tuple[float, float, float, list[tuple[str, str]]]] = {}
    heights: dict[int, float] = {}
    for name, source in spec.sources.items():
        lines = [(c, f"{'🔑 ' if c in source.keys else '↔ '}{c}: {source.columns[c].type}")
                 for c in source.columns if c in source.keys or c in joined[name]]
        height: float = 30 + _LINE * max(len(lines), 1) + 10
        x: float = 20 + layer[name] * _LAYER_GAP
        y = 20 + heights.get(layer[name], 0)
        heights[layer[name]] = heights.get(layer[name], 0) + height + _ROW_GAP
        boxes[name] = (x, y, height, lines)
    width = 40 + (max(layer.values(), default=0)) * _LAYER_GAP + _BOX_WIDTH
    height = 20 + max(heights.values(), default=60)
    out = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="join graph of {escape(spec.name)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#44617b"/></marker></defs>']
    for name, (x, y, h, lines) in boxes.items():
        kind = spec.sources[name].type
        out.append(f'<g class="node"><rect x="{x}" y="{y}" width="{_BOX_WIDTH}" height="{h}" rx="6" '
                   f'fill="#f4f8fb" stroke="#44617b"/>'
                   f'<rect x="{x}" y="{y}" width="{_BOX_WIDTH}" height="26" rx="6" fill="#44617b"/>'
                   f'<text x="{x + 10}" y="{y + 18}" fill="#fff" font-weight="bold">{escape(name)}'
                   f'<tspan fill="#cfe0ee" font-weight="normal"> ({escape(kind)})</tspan></text>')
        for i, (_column, line) in enumerate(lines):
            out.append(f'<text x="{x + 10}" y="{y + 46 + i * _LINE}">{escape(line)}</text>')
        out.append("</g>")
    for (child, ccol), (parent, pcol) in edges:
        cx, cy, ch, clines = boxes[child]
        px, py, ph, plines = boxes[parent]
        y1 = _row_y(cy, ch, clines, ccol)
        y2 = _row_y(py, ph, plines, pcol)
        if cx > px:  # child right of parent: from its left edge to the parent's right edge
            x1, x2 = cx, px + _BOX_WIDTH
        else:  # same layer (a cycle): around the right side
            x1, x2 = cx + _BOX_WIDTH, px + _BOX_WIDTH
        bend = max(60.0, abs(x1 - x2) / 2)
        c1 = x1 - bend if cx > px else x1 + bend
        c2 = x2 + bend
        out.append(f'<path d="M{x1},{y1} C{c1},{y1} {c2},{y2} {x2},{y2}" fill="none" stroke="#44617b" '
                   f'stroke-width="1.6" marker-end="url(#arrow)"/>')
        label = ccol if ccol == pcol else f"{ccol} → {pcol}"
        # A white halo keeps the label readable where it crosses a line.
        out.append(f'<text class="edge" x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 - 6:.0f}" text-anchor="middle" '
                   f'stroke="#fff" stroke-width="4" paint-order="stroke">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


# -- sections -------------------------------------------------------------------------------------

def freshness(source: Any, entry: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    """(status, explanation): "fresh", "stale", "never ingested" or "no expectation"."""
    newest = _newest(entry)
    if newest is None:
        return "never ingested", "no run has ingested this source yet"
    age_hours = (now - newest).total_seconds() / 3600
    age = _age(age_hours)
    if source.freshness_hours is None:
        return "no expectation", f"newest data {age} old; the manifest sets no freshness_hours"
    if age_hours <= source.freshness_hours:
        return "fresh", f"newest data {age} old, expected within {source.freshness_hours:g} h"
    return "stale", f"newest data {age} old, expected within {source.freshness_hours:g} h"


def _overview(spec: Any, state: Mapping[str, Any], now: datetime) -> str:
    rows = []
    for name, source in spec.sources.items():
        entry = state.get(name) or {}
        status, why = freshness(source, entry, now)
        last = entry.get("last_run") or {}
        rows.append(
            f"<tr><td><a href='#src-{escape(name)}'>{escape(name)}</a></td><td>{escape(source.type)}</td>"
            f"<td>{escape(source.owner)}</td><td>{escape(source.schedule)}</td>"
            f"<td class='{_status_class(status)}' title='{escape(why)}'>{escape(status)}</td>"
            f"<td class=num>{entry.get('rows', '–')}</td><td class=num>{entry.get('files', '–')}</td>"
            f"<td>{escape(str(last.get('at', 'never')))}</td></tr>"
        )
    return ("<table><tr><th>source</th><th>type</th><th>owner</th><th>schedule</th><th>freshness</th>"
            "<th>rows</th><th>files</th><th>last run</th></tr>" + "".join(rows) + "</table>")


def _relationships(spec: Any, orphans: Mapping[tuple[str, str], Mapping[str, Any]]) -> str:
    if not spec.relationships:
        return "<p>The manifest declares no relationships between sources.</p>"
    rows = []
    for rel in spec.relationships:
        found = orphans.get((rel.from_, rel.to))
        checked = (f"{found.get('orphans', '?')} orphan key(s), {found.get('orphan_rows', '?')} row(s)"
                   if found else "not checked yet")
        rows.append(f"<tr><td><code>{escape(rel.from_)}</code></td><td>→</td><td><code>{escape(rel.to)}</code></td>"
                    f"<td>{escape(checked)}</td></tr>")
    return ("<table><tr><th>refers</th><th></th><th>to</th><th>last check</th></tr>" + "".join(rows)
            + "</table><p class=meta>Every value of the left column must exist in the right one; the "
            "validation stage counts the orphans on each run.</p>")


def _source_section(name: str, source: Any, entry: Mapping[str, Any], now: datetime) -> str:
    status, why = freshness(source, entry, now)
    last = entry.get("last_run") or {}
    delivered = entry.get("schema") or {}
    facts = [
        ("type", source.type),
        ("owner", source.owner),
        ("location", _location(source)),
        ("schedule", source.schedule),
        ("keys", ", ".join(source.keys)),
        ("event time", source.event_time or "–"),
        ("freshness", f"{status}: {why}"),
        ("rows / files", f"{entry.get('rows', '–')} / {entry.get('files', '–')}"),
        ("watermark", _watermark(entry)),
        ("cursor", str(entry.get("cursor", "–"))),
        ("last run", _last_run(last)),
        ("last snapshot", str(entry.get("last_snapshot", "–"))),
        ("schema fingerprint", str(entry.get("schema_fingerprint", "–"))[:16]),
        ("quarantine limit", f"{source.max_quarantine_fraction:.1%} of rows"),
    ]
    columns = []
    for col, c in source.columns.items():
        rules = []
        if c.min is not None:
            rules.append(f"≥ {c.min:g}")
        if c.max is not None:
            rules.append(f"≤ {c.max:g}")
        if c.allowed is not None:
            rules.append("one of " + ", ".join(map(str, c.allowed)))
        if c.pattern is not None:
            rules.append(f"matches {c.pattern}")
        if c.unique:
            rules.append("unique")
        seen = delivered.get(col)
        columns.append(
            f"<tr><td><code>{escape(col)}</code>{' 🔑' if col in source.keys else ''}</td><td>{escape(c.type)}</td>"
            f"<td>{'yes' if c.nullable else 'no'}</td><td>{escape('; '.join(rules))}</td>"
            f"<td>{escape(seen) if seen else '–'}</td><td>{escape(c.description)}</td></tr>"
        )
    extra = [c for c in delivered if c not in source.columns]
    extra_note = (f"<p class=meta>Also delivered, not declared: {escape(', '.join(extra))}.</p>" if extra else "")
    return (
        f"<section id='src-{escape(name)}'><h2>{escape(name)}</h2>"
        + (f"<p>{escape(source.description)}</p>" if source.description else "")
        + "<table class=facts>" + "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
        + "</table><h3>Schema</h3><table><tr><th>column</th><th>type</th><th>nullable</th><th>rules</th>"
        "<th>as delivered</th><th>description</th></tr>" + "".join(columns) + "</table>" + extra_note + "</section>"
    )


# -- helpers --------------------------------------------------------------------------------------

def _row_y(y: float, height: float, lines: list[tuple[str, str]], column: str) -> float:
    for i, (name, _text) in enumerate(lines):
        if name == column:
            return y + 42 + i * _LINE
    return y + height / 2


def _location(source: Any) -> str:
    loc = source.location
    if source.type == "file":
        return f"{loc.path}/{loc.pattern} ({loc.format})"
    if source.type == "s3":
        return f"s3://{loc.bucket}/{loc.prefix}{loc.pattern} ({loc.format}, connection {loc.conn_id})"
    if source.type == "sql":
        where = f"connection {loc.conn_id}" if loc.conn_id else _redacted(loc.url)
        what = f"table {loc.table}" if loc.table else "a query"
        inc = f", incremental on {loc.incremental_column} by {loc.partition}" if loc.incremental_column else ""
        return f"{what} in {where}{inc}"
    if source.type == "http":
        via = f" via connection {loc.conn_id}" if loc.conn_id else ""
        return f"{loc.url}{via} (pagination: {loc.pagination.style})"
    return str(loc)


def _redacted(url: str | None) -> str:
    if not url:
        return ""
    try:
        import sqlalchemy as sa

        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - the catalog never fails on a location it cannot parse
        return "a database URL"


def _watermark(entry: Mapping[str, Any]) -> str:
    mark = entry.get("watermark") or {}
    return f"{mark.get('column')} = {mark.get('value')}" if mark else "–"


def _last_run(last: Mapping[str, Any]) -> str:
    if not last:
        return "never"
    return (f"{last.get('run_id')} at {last.get('at')}: {last.get('rows_in')} rows in, "
            f"{last.get('rows_published')} published, {last.get('rows_quarantined')} quarantined")


def _newest(entry: Mapping[str, Any]) -> datetime | None:
    mark = (entry.get("watermark") or {}).get("value")
    for value in (mark, (entry.get("last_run") or {}).get("at")):
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return None


def _age(hours: float) -> str:
    if hours < 0:
        return "0 h (newest data is in the future)"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _status_class(status: str) -> str:
    return {"fresh": "ok", "stale": "bad"}.get(status, "muted")


def _orphans(repo: DataRepository | None) -> dict[tuple[str, str], dict[str, Any]]:
    if repo is None:
        return {}
    path = repo.path(*RELATIONSHIPS_REPORT)
    if not path.exists():
        return {}
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    entries = report.get("relationships", report) if isinstance(report, dict) else report
    return {(e["from"], e["to"]): e for e in entries if isinstance(e, dict) and "from" in e and "to" in e}


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#1d2b36;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #d5e1ea;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #d5e1ea;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#eef4f8}.num{text-align:right}.facts th{width:11em}
.ok{background:#e3f5e1}.bad{background:#fde2e1}.muted{color:#6b7c89}.meta{color:#6b7c89}.lead{font-size:1.1em}
svg.graph{background:#fff;border:1px solid #d5e1ea;max-width:100%;height:auto}
svg text{font:12px system-ui,sans-serif;fill:#1d2b36}svg text.edge{fill:#44617b;font-style:italic}
code{background:#f2f5f7;padding:0 .2em}
"""
