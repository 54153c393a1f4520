"""LabelQualityOperator: judges a round through the repository hook, pushes the report's URI to XCom
and shows it behind the task's "Label quality report" link."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from datacentric_airflow.links.labeling import LabelQualityReportLink
from datacentric_airflow.operators.labeling import LabelQualityOperator

LABEL_TASK = """\
  name: sentiment
  classes: [neg, pos]
  consolidation: dawid_skene
  backend: simulated
  simulation: {truth: truth.csv, workers: 2, accuracy: [0.9, 0.8]}
"""


class _TaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class TestLabelQualityOperator:
    def test_publishes_report_and_links_it(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           reviews_manifest: Callable[[str], str]) -> None:
        from datacentric.labeling.rounds import consolidate_round
        from datacentric.manifest import load_manifest
        from datacentric.repository.store import DataRepository

        monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "repo"))
        manifest = tmp_path / "manifest.yaml"
        manifest.write_text(reviews_manifest(LABEL_TASK))
        repo = DataRepository(tmp_path / "repo").init()
        repo.publish_frame("labels", "sentiment/items/job-1.parquet", pd.DataFrame({"task": ["a", "b"], "text": "x"}))
        repo.publish_frame("labels", "sentiment/votes/job-1.parquet", pd.DataFrame(
            {"task": ["a", "a", "b"], "worker": ["w1", "w2", "w1"], "label": ["pos", "pos", "neg"]}))
        end = datetime(2026, 10, 31, tzinfo=UTC)
        consolidate_round(load_manifest(manifest), repo, job_name="job-1", run_id="r", created_at=end)

        operator = LabelQualityOperator(task_id="label_quality", manifest=str(manifest), job_name="job-1")
        ti = _TaskInstance()
        context = {"dag_run": SimpleNamespace(dag_id="d", run_id="r", run_after=end), "data_interval_end": end,
                   "data_interval_start": end, "logical_date": end, "ti": ti}
        result = operator.execute(context)

        report = tmp_path / "repo" / result["report_path"]
        assert report.is_file() and "<h1>Label quality: sentiment" in report.read_text()
        assert ti.pushed == {LabelQualityReportLink.key: report.resolve().as_uri()}
        assert (result["items_checked"], result["job_name"]) == (2, "job-1")

        # The link reads that XCom (Airflow calls get_link when the task finishes and stores the result).
        from airflow.sdk.execution_time import xcom

        seen: dict[str, Any] = {}

        def get_value(*, key: str, ti_key: Any) -> str:
            seen.update(key=key, ti_key=ti_key)
            return ti.pushed[key]

        monkeypatch.setattr(xcom.XCom, "get_value", staticmethod(get_value))
        link = operator.operator_extra_links[0]
        assert link.name == "Label quality report"
        # Served by the plugin's reports app: the UI shows no file:// links.
        reports = (tmp_path / "repo" / "reports").resolve()
        expected = "/datacentric/reports/" + report.resolve().relative_to(reports).as_posix()
        assert link.get_link(operator, ti_key="ti-key") == expected and seen["ti_key"] == "ti-key"
