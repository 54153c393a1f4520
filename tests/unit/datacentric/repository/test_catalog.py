"""The catalog: every source's schema, owner, freshness and last run, and the join graph as an SVG."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from datacentric.cli import main
from datacentric.manifest import load_manifest, parse_manifest
from datacentric.repository.catalog import freshness, join_graph_svg, render_catalog
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source

SVG = "{http://www.w3.org/2000/svg}"

MANIFEST = """\
name: shop
description: The shop <script>alert(1)</script>
sources:
  products:
    type: file
    owner: catalog-team
    freshness_hours: 24
    location: {path: products, format: csv}
    keys: [product_id]
    columns:
      product_id: {type: int, nullable: false, description: "the product's id"}
      category: {type: str, allowed: [books, toys]}
  reviews:
    type: file
    owner: insights
    freshness_hours: 1
    location: {path: reviews, format: csv}
    keys: [review_id]
    event_time: created_at
    columns:
      review_id: {type: str, pattern: "^R[0-9]+$"}
      product_id: {type: int, min: 1}
      created_at: {type: timestamp}
  events:
    type: http
    owner: web
    location: {url: "https://api.example.com/v1/events", pagination: {style: cursor, cursor_path: next}}
    keys: [event_id]
    columns:
      event_id: {type: str}
      product_id: {type: int}
relationships:
  - {from: reviews.product_id, to: products.product_id}
  - {from: events.product_id, to: products.product_id}
"""


def _ingested(tmp_path: Path):
    landing = tmp_path / "landing"
    for name, text in (("products", "product_id,category\n1,books\n"),
                       ("reviews", "review_id,product_id,created_at\nR1,1,2026-10-30T12:00:00Z\n")):
        (landing / name).mkdir(parents=True)
        (landing / name / "part.csv").write_text(text)
    loaded = parse_manifest(MANIFEST, tmp_path / "manifest.yaml")
    repo = DataRepository(tmp_path / "repo").init()
    for name in ("products", "reviews"):
        ingest_source(loaded, name, repo, landing_root=landing, run_id=f"run-{name}")
    return loaded, repo


def test_catalog_shows_schema_owner_freshness_and_last_run(tmp_path: Path) -> None:
    loaded, repo = _ingested(tmp_path)
    html = render_catalog(loaded, repo, now=datetime(2026, 10, 30, 20, tzinfo=UTC))
    for text in ("catalog-team", "insights", "web", "the product&#x27;s id", "one of books, toys",
                 "matches ^R[0-9]+$", "≥ 1", "run-reviews", "1 rows in, 1 published, 0 quarantined",
                 "created_at = 2026-10-30T12:00:00+00:00", "https://api.example.com/v1/events"):
        assert text in html, text
    assert "<script>" not in html and "&lt;script&gt;" in html
    sections = {m.group(1): m.group(0) for m in re.finditer(r"<section id='src-(\w+)'>.*?</section>", html, re.S)}
    assert set(sections) == {"products", "reviews", "events"}
    assert "stale: newest data 8.0 h old, expected within 1 h" in sections["reviews"]
    assert "never ingested" in sections["events"]
    assert "<td>int64</td>" in sections["products"]  # the schema as delivered, beside the declared one


def test_join_graph_is_a_picture_of_the_relationships(tmp_path: Path) -> None:
    loaded = parse_manifest(MANIFEST)
    svg = ET.fromstring(join_graph_svg(loaded))
    assert svg.tag == f"{SVG}svg"
    nodes = svg.findall(f"{SVG}g")
    titles = ["".join(t.itertext()) for g in nodes for t in g.findall(f"{SVG}text")[:1]]
    assert titles == ["products (file)", "reviews (file)", "events (http)"]
    edges = [p for p in svg.findall(f"{SVG}path") if p.get("marker-end")]
    assert len(edges) == 2
    boxes = {title.split(" ")[0]: g.find(f"{SVG}rect") for title, g in zip(titles, nodes, strict=True)}
    products_right = float(boxes["products"].get("x")) + float(boxes["products"].get("width"))
    for edge in edges:  # each arrow starts at a referring box and ends on the products box's right edge
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", edge.get("d"))]
        assert numbers[-2] == products_right
        assert numbers[0] in {float(boxes[s].get("x")) for s in ("reviews", "events")}
    labels = [t.text for t in svg.findall(f"{SVG}text") if t.get("class") == "edge"]
    assert labels == ["product_id", "product_id"]


def test_orphans_from_the_last_relationship_check(tmp_path: Path) -> None:
    loaded, repo = _ingested(tmp_path)
    report = {"relationships": [{"from": "reviews.product_id", "to": "products.product_id", "orphans": 3,
                                 "orphan_rows": 7}]}
    repo.publish_bytes("reports", "validation/relationships.json", json.dumps(report).encode())
    html = render_catalog(loaded, repo)
    assert "3 orphan key(s), 7 row(s)" in html and "not checked yet" in html


def test_freshness_states() -> None:
    source = parse_manifest(MANIFEST).spec.sources["reviews"]
    now = datetime(2026, 10, 31, tzinfo=UTC)
    assert freshness(source, {}, now)[0] == "never ingested"
    assert freshness(source, {"watermark": {"value": "2026-10-30T23:30:00+00:00"}}, now)[0] == "fresh"
    assert freshness(source, {"last_run": {"at": "2026-10-29T00:00:00+00:00"}}, now)[0] == "stale"
    products = parse_manifest(MANIFEST.replace("    freshness_hours: 24\n", "")).spec.sources["products"]
    assert freshness(products, {"last_run": {"at": "2026-10-29T00:00:00+00:00"}}, now)[0] == "no expectation"


def test_bundled_manifest_catalog_from_the_command_line(bundled_manifest: Path, tmp_path: Path, monkeypatch,
                                                        capsys) -> None:
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "no-repository-yet"))
    out = tmp_path / "catalog.html"
    assert main(["catalog", "--manifest", str(bundled_manifest), "--out", str(out)]) == 0
    html = out.read_text()
    assert f"file://{out}" in capsys.readouterr().out
    for name in load_manifest(bundled_manifest).spec.sources:
        assert f"id='src-{name}'" in html
    ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))  # well-formed XML
