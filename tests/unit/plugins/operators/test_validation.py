"""The validation operators run for real on a data repository in tmp_path; one test runs a small DAG
through `dag.test()` to show that a failed gate fails its task, stops what is downstream, and leaves
the "Data Docs" link and the summary in XCom, where the UI reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from airflow.sdk.exceptions import AirflowFailException
from datacentric.manifest import load_manifest
from datacentric.repository.store import DataRepository
from datacentric.sources.ingest import ingest_source
from datacentric_airflow.links.validation import DATA_DOCS_URL_PREFIX, XCOM_DATA_DOCS, DataDocsLink
from datacentric_airflow.operators.validation import XCOM_SUMMARY, RelationshipCheckOperator, ValidateSourceOperator

MANIFEST = """\
name: shop
sources:
  orders:
    type: file
    owner: tests
    location: {path: orders, pattern: "*.jsonl", format: jsonl}
    keys: [order_id]
    columns:
      order_id: {type: str, nullable: false, pattern: "^O[0-9]+$"}
      customer_id: {type: int, nullable: false}
      amount: {type: float, min: 0}
  customers:
    type: file
    owner: tests
    location: {path: customers, pattern: "*.jsonl", format: jsonl}
    keys: [customer_id]
    columns:
      customer_id: {type: int, nullable: false}
relationships:
  - {from: orders.customer_id, to: customers.customer_id, max_orphan_fraction: 0.1}
"""


class FakeTI:
    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = json.loads(json.dumps(value))  # XCom values must be JSON


def context(ti: FakeTI, run_id: str = "manual__1") -> dict:
    dag_run = SimpleNamespace(dag_id="d", run_id=run_id, run_after=datetime(2026, 11, 1, tzinfo=UTC))
    return {"dag_run": dag_run, "logical_date": None, "ti": ti}


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A manifest, landed files and a repository where the operators' hook finds them."""
    monkeypatch.setenv("DATACENTRIC_REPOSITORY", str(tmp_path / "repo"))
    monkeypatch.setenv("DATACENTRIC_GX_ROOT", str(tmp_path / "gx"))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    landing = tmp_path / "landing"
    repo = DataRepository(tmp_path / "repo").init()

    def land(source: str, records: list[dict]) -> None:
        (landing / source).mkdir(parents=True, exist_ok=True)
        (landing / source / f"{source}-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        ingest_source(load_manifest(manifest), source, repo, landing_root=landing, run_id="ingest")

    return SimpleNamespace(manifest=str(manifest), repo=repo, land=land, gx_root=tmp_path / "gx", root=tmp_path)


def orders(n: int, bad: int = 0) -> list[dict]:
    rows = [{"order_id": f"O{i}", "customer_id": 1 + i % 5, "amount": float(i)} for i in range(n)]
    return rows + [{"order_id": f"bad-{i}", "customer_id": 1, "amount": -5.0} for i in range(bad)]


class TestValidateSourceOperator:
    def test_a_passing_gate_returns_the_summary_and_pushes_the_data_docs_page(self, shop) -> None:
        shop.land("orders", orders(100, bad=2))
        ti = FakeTI()
        op = ValidateSourceOperator(task_id="validate", manifest=shop.manifest, source="orders")
        summary = op.execute(context(ti))
        assert (summary["rows_in"], summary["rows_valid"], summary["rows_quarantined"]) == (102, 100, 2)
        assert summary["success"] and summary["run_id"] == "manual__1"
        assert ti.xcom[XCOM_SUMMARY] == json.loads(json.dumps(summary))
        page = Path(ti.xcom[XCOM_DATA_DOCS])
        assert page == Path(summary["data_docs_page"]) and page.is_file() and "manual__1" in page.parts
        assert len(shop.repo.read_frame("validated", "orders")) == 100

    def test_a_failed_gate_fails_without_retry_and_says_what_failed(self, shop) -> None:
        shop.land("orders", orders(20, bad=5))  # 20% quarantined, over the 5% default
        ti = FakeTI()
        op = ValidateSourceOperator(task_id="validate", manifest=shop.manifest, source="orders", build_docs=False)
        with pytest.raises(AirflowFailException) as failure:
            op.execute(context(ti))
        message = str(failure.value)
        assert message.startswith("source 'orders': GATE FAILED: 25 rows in, 20 valid, 5 quarantined (20.00%")
        assert "quarantined 5 of 25 rows (20.00%), more than max_quarantine_fraction 5.00%" in message
        assert "order_id: expect_column_values_to_match_regex(pattern='^O[0-9]+$'): 5 row(s), " \
               "e.g. ['bad-0', 'bad-1', 'bad-2']" in message
        assert "amount: expect_column_values_to_be_between(min=0): 5 row(s), e.g. [-5.0, -5.0, -5.0]" in message
        assert ti.xcom[XCOM_SUMMARY]["success"] is False  # readable in XCom even though the task failed
        assert XCOM_DATA_DOCS not in ti.xcom  # build_docs=False
        assert not shop.repo.files("validated", "orders")

    def test_shape(self) -> None:
        op = ValidateSourceOperator(task_id="v", manifest="{{ params.manifest }}", source="orders")
        assert op.template_fields == ("manifest", "source")
        assert [link.name for link in op.operator_extra_links] == ["Data Docs"]

    def test_a_failed_gate_in_a_dag_fails_its_task_stops_downstream_and_links_data_docs(
        self, airflow_db: None, shop
    ) -> None:
        from airflow.models.xcom import XComModel
        from airflow.sdk import DAG
        from airflow.sdk.bases.operator import chain
        from airflow.utils.session import create_session
        from sqlalchemy import select

        shop.land("orders", orders(10, bad=5))
        with DAG("validation_gate_test", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
            validate = ValidateSourceOperator(task_id="validate", manifest=shop.manifest, source="orders", retries=2)
            after = RelationshipCheckOperator(task_id="after", manifest=shop.manifest)
            chain(validate, after)
        register(dag, shop.root)
        run = dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states == {"validate": "failed", "after": "upstream_failed"}
        assert next(ti for ti in run.get_task_instances() if ti.task_id == "validate").try_number == 1  # no retry

        with create_session() as session:
            xcoms = {x.key: x.value for x in session.scalars(
                select(XComModel).where(XComModel.dag_id == dag.dag_id, XComModel.run_id == run.run_id))}
        link = xcoms[DataDocsLink().xcom_key]  # what the UI shows as the "Data Docs" button
        assert link.startswith(f"{DATA_DOCS_URL_PREFIX}/validations/orders/manual__") and link.endswith(".html")
        assert unquote(link.removeprefix(DATA_DOCS_URL_PREFIX + "/")) == \
            Path(xcoms[XCOM_DATA_DOCS]).relative_to(shop.gx_root / "gx/uncommitted/data_docs/local_site").as_posix()
        summary = xcoms[XCOM_SUMMARY]
        assert summary["success"] is False and "GATE FAILED" in summary["message"]


class TestRelationshipCheckOperator:
    def test_reports_orphans_and_fails_over_the_limit(self, shop) -> None:
        shop.land("customers", [{"customer_id": i} for i in range(1, 5)])  # customer 5 is missing
        shop.land("orders", orders(50))
        for source in ("customers", "orders"):
            ValidateSourceOperator(task_id=f"v_{source}", manifest=shop.manifest, source=source,
                                   build_docs=False).execute(context(FakeTI()))
        op = RelationshipCheckOperator(task_id="relationships", manifest=shop.manifest)
        with pytest.raises(AirflowFailException, match=r"orders.customer_id -> customers.customer_id: 10 of 50 rows "
                                                       r"\(20.00%\) have no match, more than max_orphan_fraction "
                                                       r"10.00%; e.g. keys \['5'\]"):
            op.execute(context(FakeTI()))
        stored = json.loads(shop.repo.path("reports", "validation/relationships.json").read_text())
        assert stored["relationships"][0]["orphan_rows"] == 10


def register(dag, folder: Path) -> None:
    """Write a DAG defined here to the metadata DB, as the DAG processor would (dag.test() needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(folder), collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
