"""Point-in-time recovery and diff of the data repository from its change log and object store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from datacentric.cli import main
from datacentric.errors import RepositoryError
from datacentric.repository.recovery import diff, history, recover, resolve_point
from datacentric.repository.store import DataRepository


def _frame(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "v": [f"v{i}" for i in ids]})


@pytest.fixture
def history_repo(tmp_path: Path):
    """r1 adds two sources; r2 replaces one file, adds one, removes one; r3 touches a report only."""
    repo = DataRepository(tmp_path / "repo").init()
    repo.publish_frame("raw", "events/d1.parquet", _frame([1, 2, 3]), run_id="r1", provenance={"source": "events"})
    repo.publish_frame("raw", "events/d2.parquet", _frame([4, 5]), run_id="r1", provenance={"source": "events"})
    repo.publish_frame("raw", "orders/o1.parquet", _frame([10]), run_id="r1", provenance={"source": "orders"})
    time.sleep(0.01)
    between = repo.changelog()[-1].at
    time.sleep(0.01)
    repo.publish_frame("raw", "events/d1.parquet", _frame([1, 2, 30]), run_id="r2", provenance={"source": "events"})
    repo.publish_frame("raw", "events/d3.parquet", _frame([6, 7, 8, 9]), run_id="r2", provenance={"source": "events"})
    repo.remove("raw", "orders/o1.parquet", reason="deletion request", run_id="r2")
    repo.publish_bytes("reports", "validation/events/summary.json", b"{}", run_id="r3")
    return repo, between


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.parquet")}


def test_recover_as_of_a_run_restores_replaced_and_removed_files(history_repo, tmp_path: Path) -> None:
    repo, _ = history_repo
    summary = recover(repo, "run:r1", tmp_path / "at-r1")
    restored = _tree(tmp_path / "at-r1")
    assert sorted(restored) == ["raw/events/d1.parquet", "raw/events/d2.parquet", "raw/orders/o1.parquet"]
    assert pd.read_parquet(tmp_path / "at-r1" / "raw/events/d1.parquet")["id"].tolist() == [1, 2, 3]
    assert pd.read_parquet(tmp_path / "at-r1" / "raw/orders/o1.parquet")["id"].tolist() == [10]
    assert summary["files"] == 3 and summary["rows"] == {"raw/events": 5, "raw/orders": 1}
    log = [json.loads(line) for line in (tmp_path / "at-r1" / "changelog.jsonl").read_text().splitlines()]
    assert {r["run_id"] for r in log} == {"r1"}
    assert json.loads((tmp_path / "at-r1" / "RECOVERY.json").read_text())["point"]["spec"] == "run:r1"


def test_points_by_time_run_and_before_agree(history_repo, tmp_path: Path) -> None:
    repo, between = history_repo
    records = repo.changelog()
    assert resolve_point(records, between).position == resolve_point(records, "run:r1").position == 3
    assert resolve_point(records, "before:r2").position == 3
    assert resolve_point(records, "r2").position == 6 and resolve_point(records, "now").position == len(records)
    assert resolve_point(records, "empty").position == 0
    assert resolve_point(records, "2000-01-01").position == 0
    assert resolve_point(records, "2999-01-01").position == len(records)  # a date is the end of that day
    with pytest.raises(RepositoryError, match="no change in the repository names run 'r9'.*latest runs: r1, r2, r3"):
        resolve_point(records, "run:r9")


def test_recover_now_equals_the_live_repository(history_repo, tmp_path: Path) -> None:
    repo, _ = history_repo
    recover(repo, "now", tmp_path / "now")
    assert _tree(tmp_path / "now") == {f"raw/{k}": v for k, v in _tree(repo.root / "raw").items()}


def test_recover_one_source(history_repo, tmp_path: Path) -> None:
    repo, _ = history_repo
    recover(repo, "run:r1", tmp_path / "orders", source="orders")
    assert sorted(_tree(tmp_path / "orders")) == ["raw/orders/o1.parquet"]


def test_recover_refuses_a_used_folder_and_a_retry_is_a_no_op(history_repo, tmp_path: Path) -> None:
    repo, _ = history_repo
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(RepositoryError, match="exists and is not an empty folder"):
        recover(repo, "now", used)
    first = recover(repo, "run:r1", tmp_path / "again")
    assert recover(repo, "run:r1", tmp_path / "again") == first


def test_missing_or_damaged_content_is_reported(history_repo, tmp_path: Path) -> None:
    repo, _ = history_repo
    old = [r for r in repo.changelog() if r.path == "raw/events/d1.parquet"][0]
    obj = repo.object_path(old.sha256)
    obj.chmod(0o644)
    obj.write_bytes(b"damaged")
    with pytest.raises(RepositoryError, match="recovered content has sha256 .* the object store is damaged"):
        recover(repo, "run:r1", tmp_path / "damaged")
    assert not (tmp_path / "damaged").exists()  # nothing half-recovered is left
    obj.unlink()
    with pytest.raises(RepositoryError, match=r"1 file\(s\) of 'run:r1' are no longer anywhere.*raw/events/d1.parquet"):
        recover(repo, "run:r1", tmp_path / "missing")
    summary = recover(repo, "run:r1", tmp_path / "partial", allow_missing=True)
    assert summary["missing"] == ["raw/events/d1.parquet"] and summary["files"] == 2


def test_diff_counts_files_and_rows_per_source(history_repo) -> None:
    repo, _ = history_repo
    report = diff(repo, "run:r1", "run:r2")
    by_source = {(c["source"], c["zone"]): c for c in report["changes"]}
    events, orders = by_source[("events", "raw")], by_source[("orders", "raw")]
    assert events["files_added"] == ["raw/events/d3.parquet"]
    assert events["files_changed"] == ["raw/events/d1.parquet"]
    assert (events["rows_added"], events["rows_removed"], events["rows_exact"]) == (4 + 1, 1, True)  # 30 for 3
    assert orders["files_removed"] == ["raw/orders/o1.parquet"] and orders["rows_removed"] == 1
    assert report["totals"]["files_added"] == 1 and report["totals"]["rows_removed"] == 2
    assert diff(repo, "run:r2", "run:r2")["changes"] == []
    only = diff(repo, "empty", "now", source="orders")
    assert only["changes"] == []  # added then removed: nothing between nothing and now


def test_history_lists_the_runs(history_repo) -> None:
    repo, _ = history_repo
    runs = {r["run_id"]: r for r in history(repo)}
    assert (runs["r1"]["add"], runs["r2"]["replace"], runs["r2"]["remove"]) == (3, 1, 1)
    assert list(runs) == ["r1", "r2", "r3"]


def test_command_line(history_repo, tmp_path: Path, monkeypatch, capsys) -> None:
    repo, _ = history_repo
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(repo.root))
    assert main(["recover", "before:r2", str(tmp_path / "cli")]) == 0
    assert "recovered 3 file(s) as of 'before:r2'" in capsys.readouterr().out
    assert main(["diff", "run:r1", "run:r2", "--source", "events"]) == 0
    out = capsys.readouterr().out
    assert "events" in out and "orders" not in out
    assert main(["diff", "run:r1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to"]["spec"] == "now"
    assert main(["history"]) == 0
    assert "r2" in capsys.readouterr().out
    assert main(["recover", "run:nope", str(tmp_path / "x")]) == 2
    assert "no change in the repository names run 'nope'" in capsys.readouterr().err
