"""The validation stage end to end on a data repository: ingestion + validation accounting, the gate's
outcome and what it publishes, drift policies, lineage, idempotence, and the relationships check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacentric.errors import ManifestError
from datacentric.hashing import sha256_file
from datacentric.manifest import load_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source
from datacentric.validation.gate import check_relationships, relationship_failures, validate_stage

MANIFEST = """\
name: shop
sources:
  orders:
    type: file
    owner: tests
    location: {{path: orders, pattern: "*.jsonl", format: jsonl}}
    keys: [order_id]
    max_quarantine_fraction: {max_fraction}
    validation: {validation}
    columns:
      order_id: {{type: str, nullable: false, unique: true, pattern: "^O[0-9]{{6}}$"}}
      customer_id: {{type: int, nullable: false, min: 1}}
      amount: {{type: float, min: 0, max: 1000}}
      status: {{type: str, allowed: [new, paid, shipped]}}
      ordered_at: {{type: timestamp, nullable: false}}
  customers:
    type: file
    owner: tests
    location: {{path: customers, pattern: "*.jsonl", format: jsonl}}
    keys: [customer_id]
    columns:
      customer_id: {{type: int, nullable: false}}
relationships:
  - {{from: orders.customer_id, to: customers.customer_id{orphans}}}
"""

NOT_NULL_KEY = "order_id: expect_column_values_to_not_be_null()"
UNIQUE_KEY = "order_id: expect_column_values_to_be_unique()"
PATTERN = "order_id: expect_column_values_to_match_regex(pattern='^O[0-9]{6}$')"
RANGE = "amount: expect_column_values_to_be_between(min=0, max=1000)"
CATEGORY = "status: expect_column_values_to_be_in_set(allowed=['new', 'paid', 'shipped'])"
# What each kind of injected bad row breaks; "wrong_type" never reaches validation.
EXPECTED_REASONS = {
    "null_key": [NOT_NULL_KEY],
    "duplicate_key": [UNIQUE_KEY],
    "out_of_range": [RANGE],
    "bad_category": [CATEGORY],
    "bad_pattern": [PATTERN],
}


class Shop:
    """A landing folder, a manifest and a repository in tmp_path."""

    def __init__(self, tmp_path: Path, *, validation: str = "{fail_on_duplicate_keys: false}",
                 max_fraction: float = 1.0, orphans: str = "") -> None:
        self.root = tmp_path
        self.landing = tmp_path / "landing"
        self.manifest = tmp_path / "manifest" / "manifest.yaml"
        self.manifest.parent.mkdir(parents=True)
        self.manifest.write_text(MANIFEST.format(validation=validation, max_fraction=max_fraction,
                                                 orphans=orphans), encoding="utf-8")
        self.repo = DataRepository(tmp_path / "repo").init()
        self.gx_root = tmp_path / "gx"

    @property
    def loaded(self):
        return load_manifest(self.manifest)

    def land(self, source: str, name: str, records: list[dict]) -> None:
        folder = self.landing / source
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    def ingest(self, source: str = "orders", run_id: str = "r1"):
        return ingest_source(self.loaded, source, self.repo, landing_root=self.landing, run_id=run_id)

    def validate(self, source: str = "orders", run_id: str = "r1", **kwargs) -> dict:
        return validate_stage(self.loaded, source, self.repo, gx_root=self.gx_root, run_id=run_id,
                              build_docs=False, **kwargs)

    def report(self, source: str, name: str) -> dict:
        return json.loads(self.repo.path("reports", f"validation/{source}/{name}").read_text(encoding="utf-8"))

    def zone_rows(self, zone: str, *parts: str) -> int:
        return sum(len(pd.read_parquet(f)) for f in self.repo.files(zone, *parts))


def order(i: int, case: str = "clean", **overrides) -> dict:
    record = {"order_id": f"O{i:06d}", "customer_id": 1 + i % 50, "amount": float(i % 900),
              "status": ["new", "paid", "shipped"][i % 3], "ordered_at": f"2026-10-{1 + i % 28:02d}T10:00:00Z",
              "case": case}
    record.update(overrides)
    return record


def injected_orders(clean: int, k: int, seed: int = 0) -> list[dict]:
    """`clean` good orders and k (>= 2) bad ones of each kind, shuffled. `case` names each row's kind."""
    records = [order(i) for i in range(clean)]
    base = clean
    for j in range(k):
        records.append(order(base + j, "null_key", order_id=None))
        records.append(order(base + k + j, "duplicate_key", order_id="O999999"))  # k rows share one key
        records.append(order(base + 2 * k + j, "out_of_range", amount=5000.0 + j))
        records.append(order(base + 3 * k + j, "bad_category", status="lost"))
        records.append(order(base + 4 * k + j, "bad_pattern", order_id=f"X{j:06d}"))
        records.append(order(base + 5 * k + j, "wrong_type", customer_id=f"c{j}"))
    rng = np.random.default_rng(seed)
    return [records[i] for i in rng.permutation(len(records))]


# -- correctness: k bad rows of each kind ------------------------------------------------------


@pytest.mark.parametrize("k", [2, 5])
def test_exactly_the_injected_bad_rows_are_quarantined_with_their_reasons(tmp_path: Path, k: int) -> None:
    shop = Shop(tmp_path)
    records = injected_orders(clean=300, k=k)
    shop.land("orders", "orders-1.jsonl", records[:150])
    shop.land("orders", "orders-2.jsonl", records[150:])
    kinds = pd.Series([r["case"] for r in records]).value_counts().to_dict()

    ingested = shop.ingest()
    summary = shop.validate()

    # Wrong types stop at ingestion, each with its reason.
    ingest_quarantine = shop.repo.read_frame("quarantine", "orders", "ingest")
    assert ingested.rows_quarantined == kinds["wrong_type"] == len(ingest_quarantine)
    assert all(json.loads(r)["case"] == "wrong_type" for r in ingest_quarantine["_record"])
    assert all(reason.startswith("customer_id: expected int, got 'c") for reason in ingest_quarantine["_reasons"])

    # Every other bad row is quarantined by validation, with exactly the rule it breaks.
    quarantined = shop.repo.read_frame("quarantine", "orders", "validate")
    got = quarantined.groupby("case")["_reasons"].apply(lambda s: sorted({r for r in s})).to_dict()
    assert got == {case: [json.dumps(reasons)] for case, reasons in EXPECTED_REASONS.items()}
    assert quarantined["case"].value_counts().to_dict() == {c: kinds[c] for c in EXPECTED_REASONS}
    validated = shop.repo.read_frame("validated", "orders")
    assert set(validated["case"]) == {"clean"} and len(validated) == kinds["clean"]
    assert validated["order_id"].is_unique

    # Rows in = validated + quarantined, at every step and in the summary.
    assert len(records) == ingested.rows_in == ingested.rows_published + ingested.rows_quarantined
    assert ingested.rows_published == summary["rows_in"] == summary["rows_valid"] + summary["rows_quarantined"]
    assert (summary["rows_valid"], summary["rows_quarantined"]) == (len(validated), len(quarantined))
    assert len(records) == shop.zone_rows("validated", "orders") + shop.zone_rows("quarantine", "orders")
    assert summary["success"] and summary["published"]


def test_a_failed_gate_publishes_no_validated_rows_and_says_why(tmp_path: Path) -> None:
    shop = Shop(tmp_path, validation="{}", max_fraction=0.05)  # defaults: a duplicated key fails the gate
    records = [order(i) for i in range(60)] + [order(100, order_id="O000007"), order(101, amount=-1.0)]
    shop.land("orders", "orders-1.jsonl", records)
    shop.ingest()
    summary = shop.validate()

    assert not summary["success"] and not summary["published"]
    assert not shop.repo.files("validated", "orders")
    assert shop.zone_rows("quarantine", "orders", "validate") == summary["rows_quarantined"] == 3
    assert summary["problems"] == [f"{UNIQUE_KEY} failed: 2 rows share duplicated keys"]  # 4.84% is under 5%
    message = summary["message"]
    assert message.startswith("source 'orders': GATE FAILED: 62 rows in, 59 valid, 3 quarantined")
    assert f"  - {UNIQUE_KEY}: 2 row(s), e.g. ['O000007', 'O000007']" in message
    assert f"  - {RANGE}: 1 row(s), e.g. [-1.0]" in message
    assert "Nothing was published to the validated zone" in message
    stored = shop.report("orders", "summary.json")
    assert stored["success"] is False and stored["message"] == message
    assert not shop.repo.path("reports", "validation/orders/schema.json").exists()  # nothing accepted


def test_the_summary_carries_lineage_to_what_it_judged(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(20)])
    shop.land("orders", "orders-2.jsonl", [order(i) for i in range(20, 30)] + [order(30, status="lost")])
    shop.ingest()
    summary = shop.validate(run_id="manual__1")
    lineage = shop.report("orders", "summary.json")["lineage"]
    raw = shop.repo.files("raw", "orders")
    assert lineage["inputs"] == [
        {"path": shop.repo.relative(p), "sha256": sha256_file(p), "rows": len(pd.read_parquet(p))} for p in raw
    ]
    assert [i["rows"] for i in lineage["inputs"]] == [20, 11]
    assert lineage["manifest_sha256"] == shop.loaded.sha256
    assert len(lineage["suite_sha256"]) == 64 and lineage["expectations_file"] is None
    # One validated partition per raw partition, a quarantine partition where rows failed.
    units = [p.name for p in raw]
    validated = [shop.repo.path("validated", "orders", u) for u in units]
    quarantine = shop.repo.path("quarantine", "orders", "validate", units[1])
    assert lineage["outputs"] == {
        "validated": [{"path": shop.repo.relative(v), "sha256": sha256_file(v), "rows": n}
                      for v, n in zip(validated, [20, 10], strict=True)],
        "quarantine": [{"path": shop.repo.relative(quarantine), "sha256": sha256_file(quarantine), "rows": 1}],
    }
    assert not shop.repo.path("quarantine", "orders", "validate", units[0]).exists()
    index = shop.report("orders", "partitions.json")
    assert index["totals"] == {"rows_in": 31, "rows_valid": 30, "rows_quarantined": 1}
    assert {u: (e["rows_in"], e["rows_valid"], e["rows_quarantined"]) for u, e in index["partitions"].items()} == {
        units[0]: (20, 20, 0), units[1]: (11, 10, 1)}
    stored = shop.report("orders", "summary.json")
    assert "run_id" not in stored and "data_docs" not in stored  # run-specific: XCom only
    assert summary["run_id"] == "manual__1"
    assert len(stored["expectations"]) == stored["expectations_evaluated"] == 9


def test_validating_unchanged_data_again_reads_and_changes_nothing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shop = Shop(tmp_path)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(30)] + [order(40, status="lost")])
    shop.ingest()
    first = shop.validate(run_id="r1")
    assert (first["rows_in"], first["partitions"]["validated"]) == (31, ["orders-1.parquet"])
    log = (shop.repo.root / "changelog.jsonl").read_text(encoding="utf-8")
    read = []
    real_read = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda path, *a, **k: read.append(str(path)) or real_read(path, *a, **k))
    second = shop.validate(run_id="r2")
    assert (shop.repo.root / "changelog.jsonl").read_text(encoding="utf-8") == log
    assert not [r for r in read if "/raw/" in r], "an unchanged raw partition was read again"
    assert second["success"] and not second["published"] and second["rows_in"] == 0
    assert second["message"] == ("source 'orders': nothing new to validate: 1 partition(s) unchanged since they "
                                 "were validated")


def test_a_run_judges_only_its_new_partitions_and_its_thresholds_on_them(tmp_path: Path) -> None:
    shop = Shop(tmp_path, max_fraction=0.05)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(1000)])
    shop.ingest()
    assert shop.validate()["success"]
    before = {p: p.read_bytes() for p in shop.repo.files("validated", "orders")}
    # A day with 10% bad rows: under 5% of the whole history (1,100 rows), but the run is judged on its day.
    shop.land("orders", "orders-2.jsonl", [order(i) for i in range(1000, 1090)]
              + [order(i, status="lost") for i in range(1090, 1100)])
    shop.ingest(run_id="r2")
    summary = shop.validate(run_id="r2")
    assert summary["partitions"] == {"validated": ["orders-2.parquet"], "unchanged": 1, "removed": []}
    assert (summary["rows_in"], summary["rows_quarantined"]) == (100, 10)
    assert not summary["success"]
    assert summary["problems"] == ["quarantined 10 of 100 rows (10.00%), more than max_quarantine_fraction 5.00%"]
    assert {p: p.read_bytes() for p in shop.repo.files("validated", "orders")} == before  # nothing of a failed run


def test_keys_are_unique_across_partitions_by_a_key_only_read(tmp_path: Path) -> None:
    shop = Shop(tmp_path)  # fail_on_duplicate_keys: false: repeated keys are quarantined
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(20)])
    shop.ingest()
    shop.validate()
    shop.land("orders", "orders-2.jsonl", [order(i) for i in range(18, 25)])  # 18 and 19 again
    shop.ingest(run_id="r2")
    summary = shop.validate(run_id="r2")
    assert (summary["rows_in"], summary["rows_valid"], summary["rows_quarantined"]) == (7, 5, 2)
    quarantined = shop.repo.read_frame("quarantine", "orders", "validate")
    assert sorted(quarantined["order_id"]) == ["O000018", "O000019"]
    assert set(quarantined["_reasons"]) == {json.dumps([UNIQUE_KEY])}
    assert shop.repo.read_frame("validated", "orders")["order_id"].is_unique
    assert shop.zone_rows("validated", "orders") + shop.zone_rows("quarantine", "orders") == 27

    strict = Shop(tmp_path / "strict", validation="{}")  # the default fails the gate instead
    strict.land("orders", "orders-1.jsonl", [order(i) for i in range(20)])
    strict.ingest()
    strict.validate()
    strict.land("orders", "orders-2.jsonl", [order(19)])
    strict.ingest(run_id="r2")
    failed = strict.validate(run_id="r2")
    assert not failed["success"]
    assert failed["problems"] == [f"{UNIQUE_KEY} failed: 1 rows repeat keys of partitions validated before, "
                                  "e.g. ['O000019']"]


def test_a_removed_raw_partition_takes_its_validated_rows_along_and_old_layouts_migrate(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(10)])
    shop.land("orders", "orders-2.jsonl", [order(i) for i in range(10, 20)] + [order(20, status="lost")])
    shop.ingest()
    # A repository of the one-file layout: validated/<source>/data.parquet.
    shop.repo.publish_frame("validated", "orders/data.parquet", pd.DataFrame({"order_id": ["O000001"]}))
    shop.validate()
    assert sorted(p.name for p in shop.repo.files("validated", "orders")) == ["orders-1.parquet", "orders-2.parquet"]
    shop.repo.remove("raw", "orders/orders-2.parquet", reason="test", run_id="r2")
    summary = shop.validate(run_id="r2")
    assert summary["partitions"] == {"validated": [], "unchanged": 1, "removed": ["orders-2.parquet"]}
    assert [p.name for p in shop.repo.files("validated", "orders")] == ["orders-1.parquet"]
    assert not shop.repo.files("quarantine", "orders", "validate")
    assert list(shop.report("orders", "partitions.json")["partitions"]) == ["orders-1.parquet"]
    removed = {r.path: r.provenance.get("reason") for r in shop.repo.changelog() if r.op == "remove"}
    assert set(removed) >= {"validated/orders/data.parquet", "validated/orders/orders-2.parquet",
                            "quarantine/orders/validate/orders-2.parquet"}


def test_validating_again_changes_nothing_and_a_killed_run_is_finished_by_its_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = Shop(tmp_path)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(40)] + [order(50, amount=2000.0)])
    shop.ingest()

    # The first attempt dies after publishing the validated rows, before the summary.
    publish_bytes = DataRepository.publish_bytes

    def dies_on_the_summary(self, zone, relpath, data, **kwargs):
        if relpath.endswith("summary.json"):
            raise KeyboardInterrupt("killed")
        return publish_bytes(self, zone, relpath, data, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(DataRepository, "publish_bytes", dies_on_the_summary)
        with pytest.raises(KeyboardInterrupt):
            shop.validate()
    assert not shop.repo.path("reports", "validation/orders/summary.json").exists()

    first = shop.validate()  # the retry
    log = (shop.repo.root / "changelog.jsonl").read_text(encoding="utf-8")
    files = {p: p.read_bytes() for p in shop.repo.root.rglob("*") if p.is_file() and p.name != "changelog.jsonl"}
    second = shop.validate(run_id="r2")
    assert (shop.repo.root / "changelog.jsonl").read_text(encoding="utf-8") == log
    assert {p: p.read_bytes() for p in files} == files
    assert (first["rows_valid"], first["rows_quarantined"]) == (40, 1)
    assert second["rows_in"] == 0 and second["success"]  # nothing left to do


def test_when_no_row_fails_any_more_the_old_quarantine_file_is_removed(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(10)] + [order(10, status="lost")])
    shop.ingest()
    assert shop.validate()["rows_quarantined"] == 1
    shop.manifest.write_text(shop.manifest.read_text().replace("allowed: [new, paid, shipped]",
                                                                "allowed: [new, paid, shipped, lost]"))
    assert shop.validate(run_id="r2")["rows_quarantined"] == 0
    assert not shop.repo.files("quarantine", "orders", "validate")
    removed = [r for r in shop.repo.changelog() if r.op == "remove"]
    assert [r.path for r in removed] == ["quarantine/orders/validate/orders-1.parquet"]


# -- drift, through the stage ------------------------------------------------------------------


def drifted(tmp_path: Path, policy: str) -> tuple[Shop, dict, bytes, bytes]:
    """Validate once; then a new file adds an undeclared column `coupon`; validate again."""
    shop = Shop(tmp_path, validation=f"{{drift: {policy}}}")
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(20)])
    shop.ingest()
    assert shop.validate()["success"]
    schema_before = shop.repo.path("reports", "validation/orders/schema.json").read_bytes()
    validated_before = shop.repo.path("validated", "orders", "orders-1.parquet").read_bytes()
    shop.land("orders", "orders-2.jsonl", [order(i, coupon=f"C{i}") for i in range(20, 30)])
    shop.ingest(run_id="r2")
    return shop, shop.validate(run_id="r2"), schema_before, validated_before


def test_drift_policy_fail_stops_the_source(tmp_path: Path) -> None:
    shop, summary, schema_before, validated_before = drifted(tmp_path, "fail")
    assert not summary["success"]
    assert summary["problems"] == ["schema drift: new column 'coupon' (str): fails the gate"]
    assert summary["drift"]["outcome"] == "fail"
    assert "Schema:\n  - schema drift: new column 'coupon' (str): fails the gate" in summary["message"]
    assert shop.repo.path("validated", "orders", "orders-1.parquet").read_bytes() == validated_before
    assert not shop.repo.path("validated", "orders", "orders-2.parquet").exists()
    assert shop.repo.path("reports", "validation/orders/schema.json").read_bytes() == schema_before


def test_drift_policy_warn_passes_and_keeps_warning(tmp_path: Path) -> None:
    shop, summary, schema_before, _ = drifted(tmp_path, "warn")
    assert summary["success"] and summary["published"]
    assert summary["warnings"] == ["schema drift: new column 'coupon' (str): warning"]
    assert shop.repo.read_frame("validated", "orders")["coupon"].notna().sum() == 10
    assert shop.repo.path("reports", "validation/orders/schema.json").read_bytes() == schema_before
    assert shop.validate(run_id="r3")["warnings"] == []  # nothing new: nothing judged
    shop.land("orders", "orders-3.jsonl", [order(i, coupon=f"C{i}") for i in range(30, 35)])
    shop.ingest(run_id="r4")
    assert shop.validate(run_id="r4")["warnings"] == summary["warnings"]  # until someone accepts it


def test_drift_policy_evolve_accepts_the_new_schema(tmp_path: Path) -> None:
    shop, summary, schema_before, _ = drifted(tmp_path, "evolve")
    assert summary["success"] and summary["warnings"] == []
    assert summary["drift"]["changes"] == [
        {"column": "coupon", "change": "new", "before": None, "after": "str", "by_manifest": False}
    ]
    accepted = shop.report("orders", "schema.json")["columns"]
    assert accepted["coupon"] == {"type": "str", "declared": None}
    shop.land("orders", "orders-3.jsonl", [order(i, coupon=f"C{i}") for i in range(30, 35)])
    shop.ingest(run_id="r3")
    assert shop.validate(run_id="r3")["drift"]["changes"] == []


# -- declared expectations, through the manifest -----------------------------------------------


def test_the_manifest_names_an_expectations_file_beside_it(tmp_path: Path) -> None:
    shop = Shop(tmp_path, validation="{expectations: expectations.yaml}")
    (shop.manifest.parent / "expectations.yaml").write_text(
        "orders:\n  - type: expect_column_value_lengths_to_be_between\n"
        "    kwargs: {column: status, max_value: 3}\n", encoding="utf-8")
    shop.land("orders", "orders-1.jsonl", [order(i, status="new") for i in range(30)] + [order(30, status="paid")])
    shop.ingest()
    summary = shop.validate()
    assert summary["rows_quarantined"] == 1
    rule = "status: expect_column_value_lengths_to_be_between(max_value=3)"
    assert json.loads(shop.repo.read_frame("quarantine", "orders", "validate")["_reasons"][0]) == [rule]
    lineage = shop.report("orders", "summary.json")["lineage"]
    assert lineage["expectations_file"] == {"path": "expectations.yaml",
                                            "sha256": sha256_file(shop.manifest.parent / "expectations.yaml")}
    assert next(e for e in summary["expectations"] if e["id"] == rule)["origin"] == "expectations.yaml:2"


def test_a_broken_expectations_file_fails_before_anything_is_published(tmp_path: Path) -> None:
    shop = Shop(tmp_path, validation="{expectations: expectations.yaml}")
    (shop.manifest.parent / "expectations.yaml").write_text(
        "orders:\n  - type: expect_column_to_exist\n    kwargs: {column: order_id}\n"
        "  - type: expect_column_values_to_be_positive\n    kwargs: {column: amount}\n", encoding="utf-8")
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(5)])
    shop.ingest()
    with pytest.raises(ManifestError, match=r"manifest/expectations.yaml:4: orders\[1\].type: unknown expectation "
                                             r"type 'expect_column_values_to_be_positive'"):
        shop.validate()
    assert not shop.repo.files("validated") and not shop.repo.files("reports", pattern="*.json")


# -- relationships -----------------------------------------------------------------------------


def related(tmp_path: Path, orphans: str) -> Shop:
    shop = Shop(tmp_path, orphans=orphans)
    shop.land("customers", "customers-1.jsonl", [{"customer_id": i} for i in range(1, 41)])
    # customers 41..50 do not exist: orders 40..49, 90..99, ... are orphans.
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(200)])
    for source in ("customers", "orders"):
        shop.ingest(source)
        assert shop.validate(source)["success"]
    return shop


def test_orphans_are_counted_and_published(tmp_path: Path) -> None:
    shop = related(tmp_path, "")
    (report,) = check_relationships(shop.loaded, shop.repo, run_id="r1")
    assert report == {
        "from": "orders.customer_id", "to": "customers.customer_id",
        "rows": 200, "orphan_rows": 40, "orphan_fraction": 0.2, "keys": 50, "orphans": 10,
        "max_orphan_fraction": None, "success": True,
        "sample": ["41", "42", "43", "44", "45"],
    }
    assert relationship_failures([report]) == []
    stored = json.loads(shop.repo.path("reports", "validation/relationships.json").read_text())
    assert stored["relationships"] == [report]
    assert [i["path"] for i in stored["lineage"]["inputs"]] == ["validated/customers/customers-1.parquet",
                                                                "validated/orders/orders-1.parquet"]
    log = (shop.repo.root / "changelog.jsonl").read_text()
    check_relationships(shop.loaded, shop.repo, run_id="r2")
    assert (shop.repo.root / "changelog.jsonl").read_text() == log  # same data, same report: no change


@pytest.mark.parametrize(("limit", "fails"), [("0.2", False), ("0.19", True)])
def test_a_relationship_over_its_orphan_limit_fails(tmp_path: Path, limit: str, fails: bool) -> None:
    shop = related(tmp_path, f", max_orphan_fraction: {limit}")
    report = check_relationships(shop.loaded, shop.repo)
    failures = relationship_failures(report)
    assert bool(failures) is fails
    if fails:
        assert failures == ["orders.customer_id -> customers.customer_id: 40 of 200 rows (20.00%) have no match, "
                            "more than max_orphan_fraction 19.00%; e.g. keys ['41', '42', '43']"]


def test_the_built_data_docs_page_states_the_gate_s_verdict(tmp_path: Path) -> None:
    shop = Shop(tmp_path, validation="{}", max_fraction=0.05)
    shop.land("orders", "orders-1.jsonl", [order(i) for i in range(60)] + [order(100, order_id="O000007")])
    shop.ingest()
    summary = validate_stage(shop.loaded, "orders", shop.repo, gx_root=shop.gx_root, run_id="r1", build_docs=True)
    assert not summary["success"]
    page = Path(str(summary["data_docs_page"]).removeprefix("file://"))
    text = page.read_text(encoding="utf-8")
    assert "Quarantine gate: FAILED" in text and "rows share duplicated keys" in text
