"""The state file: what each run learned per source, in the repository, diff-friendly, never rewriting
the user's manifest, and unchanged by a re-run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from datacentric.manifest import load_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources import state as state_file
from datacentric.sources.ingest import ingest_source

MANIFEST = """\
name: shop
sources:
  orders:
    type: file
    owner: sales
    location: {path: orders, pattern: "*.csv", format: csv}
    keys: [order_id]
    event_time: ordered_at
    columns:
      order_id: {type: int, nullable: false}
      amount: {type: float}
      ordered_at: {type: timestamp}
  refunds:
    type: file
    owner: sales
    location: {path: refunds, pattern: "*.csv", format: csv}
    keys: [refund_id]
    columns:
      refund_id: {type: int, nullable: false}
"""


@pytest.fixture
def shop(tmp_path: Path):
    landing = tmp_path / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "refunds").mkdir(parents=True)
    (landing / "orders" / "d1.csv").write_text(
        "order_id,amount,ordered_at\n1,2.5,2026-10-01T10:00:00Z\n2,x,2026-10-01T11:00:00Z\n")
    (landing / "refunds" / "r1.csv").write_text("refund_id\n7\n")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    return load_manifest(manifest), DataRepository(tmp_path / "repo").init(), landing, manifest


def test_a_run_writes_what_it_learned(shop) -> None:
    loaded, repo, landing, manifest = shop
    result = ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r1", last_snapshot="ds-0123")
    assert result.state_changed
    text = repo.state_path("shop").read_text()
    assert text.startswith("# What each ingestion run learned per source")
    entry = yaml.safe_load(text)["sources"]["orders"]
    assert entry["rows"] == 1 and entry["files"] == 1 and entry["type"] == "file"
    assert entry["watermark"] == {"column": "ordered_at", "value": "2026-10-01T10:00:00+00:00"}
    # As delivered: the amount column held a value that is not a number, so it came as text.
    assert entry["schema"] == {"order_id": "int64", "amount": "string", "ordered_at": "string"}
    assert entry["schema_fingerprint"] == state_file.schema_fingerprint(entry["schema"])
    assert entry["last_run"]["run_id"] == "r1" and entry["last_snapshot"] == "ds-0123"
    assert (entry["last_run"]["rows_in"], entry["last_run"]["rows_published"], entry["last_run"]["rows_quarantined"]) \
        == (2, 1, 1)
    assert manifest.read_text() == MANIFEST  # the user's manifest is never rewritten
    record = [r for r in repo.changelog() if r.path == "state/shop.lock.yaml"][-1]
    assert record.provenance == {"kind": "state", "manifest": "shop"}


def test_a_rerun_leaves_the_state_file_byte_for_byte(shop) -> None:
    loaded, repo, landing, _ = shop
    ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r1")
    before = repo.state_path("shop").read_bytes()
    again = ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r2", last_snapshot="ds-later")
    assert not again.state_changed
    assert repo.state_path("shop").read_bytes() == before


def test_new_data_and_a_new_column_update_the_entry(shop) -> None:
    loaded, repo, landing, _ = shop
    ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r1")
    (landing / "orders" / "d2.csv").write_text("order_id,amount,ordered_at,channel\n3,1,2026-10-02T09:00:00Z,web\n")
    result = ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r2")
    assert result.schema_changes == ["column 'channel' added (string)", "column 'amount' changed from string to double"]
    entry = state_file.source_state(repo, "shop", "orders")
    assert (entry["rows"], entry["files"], entry["last_run"]["run_id"]) == (2, 2, "r2")
    assert entry["watermark"]["value"] == "2026-10-02T09:00:00+00:00"


def test_each_source_keeps_its_own_entry_when_ingested_at_once(shop) -> None:
    loaded, repo, landing, _ = shop
    errors: list[BaseException] = []

    def run(source: str) -> None:
        try:
            ingest_source(loaded, source, DataRepository(repo.root), landing_root=landing, run_id="r1")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in ("orders", "refunds")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(state_file.read_state(repo, "shop")["sources"]) == {"orders", "refunds"}


def test_a_run_that_died_before_writing_the_state_is_completed_by_the_retry(shop, monkeypatch) -> None:
    loaded, repo, landing, _ = shop

    def die(*args, **kwargs):
        raise KeyboardInterrupt("killed after publishing")

    monkeypatch.setattr(state_file, "record_source", die)
    with pytest.raises(KeyboardInterrupt):
        ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r1")
    monkeypatch.undo()
    assert repo.files("raw", "orders") and not repo.state_path("shop").exists()
    retry = ingest_source(loaded, "orders", repo, landing_root=landing, run_id="r1-retry")
    assert retry.units_ingested == 0 and retry.state_changed
    entry = state_file.source_state(repo, "shop", "orders")
    assert entry["rows"] == 1 and entry["last_run"]["run_id"] == "r1-retry"


def test_state_renders_diff_friendly_and_plain() -> None:
    from datetime import UTC, datetime

    text = state_file.render({"manifest": "m", "sources": {"b": {"rows": 2, "at": datetime(2026, 1, 1, tzinfo=UTC)},
                                                           "a": {"rows": 1}}})
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == ["manifest: m", "sources:", "  a:", "    rows: 1", "  b:", "    at: '2026-01-01T00:00:00+00:00'",
                    "    rows: 2"]
    assert state_file.schema_changes({"a": "int64", "b": "string"}, {"a": "double", "c": "string"}) == [
        "column 'c' added (string)", "column 'b' removed (was string)", "column 'a' changed from int64 to double"]
