"""Properties of file ingestion and validation under random rows with random corruptions (Hypothesis,
bounded): rows in = published + quarantined, a published value is the value its source row holds,
validation quarantines exactly the rows that break a rule, and nothing escapes but the project's own
errors."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
import tempfile
from pathlib import Path

from datacentric.errors import DataCentricError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_spec = importlib.util.spec_from_file_location("corpus_harness", Path(__file__).with_name("_harness.py"))
assert _spec is not None and _spec.loader is not None
harness = sys.modules.setdefault("corpus_harness", importlib.util.module_from_spec(_spec))
if not hasattr(harness, "ingest"):
    _spec.loader.exec_module(harness)

BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s != "")
rows = st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), names), min_size=0, max_size=15,
                unique_by=lambda r: r[0])
# What happens to a row: kept, its id replaced by text that is no integer, a field dropped, one added,
# its id pushed beyond int64, or (JSON lines) a latin-1 byte in its name.
corruptions = st.sampled_from(["keep", "keep", "keep", "bad_id", "drop_field", "extra_field", "huge_id", "latin1"])


def _csv(rows: list[tuple[int, str]], damage: list[str]) -> tuple[bytes, set[int]]:
    out, intact = io.StringIO(), set()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "name"])
    for (id_, name), what in zip(rows, damage, strict=True):
        if what == "bad_id":
            writer.writerow([f"x{id_}", name])
        elif what == "drop_field":
            writer.writerow([id_])
        elif what == "extra_field":
            writer.writerow([id_, name, "surplus"])
        elif what == "huge_id":
            writer.writerow([str(2**64 + abs(id_)), name])
        else:
            writer.writerow([id_, name])
            intact.add(id_)
    return out.getvalue().encode(), intact


def _jsonl(rows: list[tuple[int, str]], damage: list[str]) -> tuple[bytes, set[int]]:
    lines, intact = [], set()
    for (id_, name), what in zip(rows, damage, strict=True):
        if what == "bad_id":
            lines.append(json.dumps({"id": f"x{id_}", "name": name}).encode())
        elif what == "drop_field":
            lines.append(json.dumps({"id": id_, "name": name})[:-3].encode())  # cut: not JSON any more
        elif what == "huge_id":
            lines.append(json.dumps({"id": 2**64 + abs(id_), "name": name}).encode())
        elif what == "latin1":
            lines.append(json.dumps({"id": id_, "name": name}).encode()[:-2] + b'\xe9"}')
        else:
            lines.append(json.dumps({"id": id_, "name": name}, ensure_ascii=False).encode())
            intact.add(id_)
    return b"\n".join(lines) + b"\n", intact


def _check(fmt: str, data: bytes, source: list[tuple[int, str]], intact: set[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            outcome = harness.ingest(Path(tmp), harness.manifest_text(fmt), {f"a.{fmt}": data})
        except DataCentricError:
            return  # a whole-file error naming the file (the project's own error) is an allowed outcome
    result = outcome.result
    assert result.rows_in == result.rows_published + result.rows_quarantined
    assert result.rows_in == len(source)
    if result.rows_published:
        by_id = dict(source)
        published = list(zip(outcome.raw["id"].tolist(), outcome.raw["name"].tolist(), strict=True))
        for id_, name in published:
            assert id_ in intact, f"row {id_} was corrupted but published"
            assert by_id[id_] == name, f"row {id_}: published {name!r}, source {by_id[id_]!r}"
        assert {i for i, _ in published} == intact
    else:
        assert not intact


@BOUNDED
@given(st.data())
def test_csv_ingestion_keeps_rows_and_values(data: st.DataObject) -> None:
    source = data.draw(rows)
    damage = data.draw(st.lists(corruptions.filter(lambda c: c != "latin1"), min_size=len(source),
                                max_size=len(source)))
    payload, intact = _csv(source, damage)
    _check("csv", payload, source, intact)


@BOUNDED
@given(st.data())
def test_jsonl_ingestion_keeps_rows_and_values(data: st.DataObject) -> None:
    source = data.draw(rows)
    damage = data.draw(st.lists(corruptions.filter(lambda c: c != "extra_field"), min_size=len(source),
                                max_size=len(source)))
    payload, intact = _jsonl(source, damage)
    _check("jsonl", payload, source, intact)


VALIDATED_MANIFEST = """\
version: 1
name: props
sources:
  orders:
    type: file
    owner: tests
    location: {path: orders, format: jsonl}
    keys: [id]
    max_quarantine_fraction: 1.0
    columns:
      id: {type: int, nullable: false}
      amount: {type: float, min: 0, max: 100}
      status: {type: str, allowed: [new, paid]}
"""
# What breaks a row at validation (ingestion types every row): a value out of range or not allowed.
breaks = st.sampled_from(["keep", "keep", "negative", "too_big", "bad_status"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_validation_quarantines_exactly_the_rows_that_break_a_rule_and_keeps_the_rest(data: st.DataObject) -> None:
    from datacentric.manifest import parse_manifest
    from datacentric.repository import DataRepository
    from datacentric.sources.ingest import ingest_source
    from datacentric.validation.gate import validate_stage

    ids = data.draw(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20, unique=True))
    amounts = data.draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=len(ids), max_size=len(ids)))
    statuses = data.draw(st.lists(st.sampled_from(["new", "paid"]), min_size=len(ids), max_size=len(ids)))
    damage = data.draw(st.lists(breaks, min_size=len(ids), max_size=len(ids)))
    source = {}
    for id_, amount, status, what in zip(ids, amounts, statuses, damage, strict=True):
        amount = -1.0 - amount if what == "negative" else 101.0 + amount if what == "too_big" else amount
        source[id_] = (amount, "lost" if what == "bad_status" else status, what != "keep")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "landing" / "orders").mkdir(parents=True)
        (root / "landing" / "orders" / "a.jsonl").write_text("".join(
            json.dumps({"id": i, "amount": a, "status": s}) + "\n" for i, (a, s, _) in source.items()))
        loaded = parse_manifest(VALIDATED_MANIFEST)
        repo = DataRepository(root / "repo").init()
        ingest_source(loaded, "orders", repo, landing_root=root / "landing", run_id="r1")
        summary = validate_stage(loaded, "orders", repo, gx_root=root / "gx", run_id="r1", build_docs=False)
        assert summary["rows_in"] == len(source) == summary["rows_valid"] + summary["rows_quarantined"]
        valid = repo.read_frame("validated", "orders") if repo.files("validated", "orders") else None
        quarantined = (repo.read_frame("quarantine", "orders", "validate")
                       if repo.files("quarantine", "orders", "validate") else None)
    broken = {i for i, (_, _, bad) in source.items() if bad}
    assert set([] if quarantined is None else quarantined["id"].tolist()) == broken
    kept = [] if valid is None else list(zip(valid["id"], valid["amount"], valid["status"], strict=True))
    assert {i for i, _, _ in kept} == set(source) - broken
    for id_, amount, status in kept:
        assert (amount, status) == source[id_][:2], f"row {id_} changed on its way through validation"
