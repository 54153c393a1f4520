"""A Ground Truth labeling round through Airflow's operator, with its files in S3 (moto's server)
and SageMaker as a real boto3 client under botocore's Stubber (no Ground Truth can be reached from
here: every request is checked against the service model instead). What Ground Truth would write
back is laid out as its documentation describes (output manifest, annotations/worker-response)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pandas as pd
import pytest
from airflow.sdk.exceptions import TaskDeferred
from botocore.stub import ANY, Stubber

pytestmark = pytest.mark.integration

JOB = "sentiment-20261031t000000z"
END = datetime(2026, 10, 31, tzinfo=UTC)
BUCKET = "labeling-bucket"
CLASSES = ["neg", "neu", "pos"]
LABEL_TASK = f"""\
  name: sentiment
  classes: [neg, neu, pos]
  instructions: Choose the sentiment of the review.
  workers_per_item: 3
  budget_per_run: 6
  backend: ground_truth
  ground_truth:
    conn_id: aws_ground_truth_test
    bucket: {BUCKET}
    prefix: labeling
    role_arn: arn:aws:iam::123456789012:role/GroundTruth
    workteam_arn: arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers
    task_time_limit_seconds: 600
    max_human_labeled_object_count: 6
"""
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{JOB}"
OUTPUT = f"s3://{BUCKET}/labeling/sentiment/output/"


def describe(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "LabelingJobStatus": state,
        "LabelCounters": {"TotalLabeled": 5, "HumanLabeled": 5, "MachineLabeled": 0, "FailedNonRetryableError": 0,
                          "Unlabeled": 1},
        "CreationTime": END, "LastModifiedTime": END, "JobReferenceCode": "ref",
        "LabelingJobName": JOB, "LabelingJobArn": ARN, "LabelAttributeName": "sentiment",
        "InputConfig": {"DataSource": {"S3DataSource": {
            "ManifestS3Uri": f"s3://{BUCKET}/labeling/sentiment/{JOB}/input.manifest"}}},
        "OutputConfig": {"S3OutputPath": OUTPUT},
        "RoleArn": "arn:aws:iam::123456789012:role/GroundTruth",
        "LabelCategoryConfigS3Uri": f"s3://{BUCKET}/labeling/sentiment/{JOB}/categories.json",
        "HumanTaskConfig": {
            "WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers",
            "UiConfig": {"UiTemplateS3Uri": f"s3://{BUCKET}/labeling/sentiment/{JOB}/template.html"},
            "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-TextMultiClass",
            "TaskTitle": "t", "TaskDescription": "d", "NumberOfHumanWorkersPerDataObject": 3,
            "TaskTimeLimitInSeconds": 600,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn":
                                              "arn:aws:lambda:us-east-1:432418664414:function:ACS-TextMultiClass"},
        },
        **extra,
    }


@pytest.fixture
def aws(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """An Airflow AWS connection whose S3 is moto's server, a fresh bucket, and a stubbed SageMaker
    client installed as the Ground Truth hook's client."""
    from datacentric_airflow.hooks.ground_truth import GroundTruthHook

    monkeypatch.setenv("AIRFLOW_CONN_AWS_GROUND_TRUTH_TEST", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"region_name": "us-east-1", "service_config": {"s3": {"endpoint_url": s3_endpoint}}},
    }))
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) if _exists(s3) else []:
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=obj["Key"])
    if not _exists(s3):
        s3.create_bucket(Bucket=BUCKET)
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="testing",
                             aws_secret_access_key="testing")
    monkeypatch.setattr(GroundTruthHook, "conn", sagemaker)
    stub = Stubber(sagemaker)
    stub.activate()
    yield SimpleNamespace(s3=s3, stub=stub)
    stub.deactivate()


def _exists(s3: Any) -> bool:
    return any(b["Name"] == BUCKET for b in s3.list_buckets().get("Buckets", []))


@pytest.fixture
def project(labeling_project: Callable) -> SimpleNamespace:
    texts = ["awful", "so so", "great", "bad", "fine", "superb", "meh", "ok"]
    return labeling_project(LABEL_TASK, {f"r{i}": text for i, text in enumerate(texts)})


def context() -> dict[str, Any]:
    dag_run = SimpleNamespace(dag_id="datacentric_pipeline", run_id="scheduled__2026-10-31", run_after=END)
    return {"dag_run": dag_run, "data_interval_start": END - timedelta(days=1), "data_interval_end": END,
            "logical_date": END}


def start_job(aws: SimpleNamespace, project: SimpleNamespace) -> TaskDeferred:
    from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator

    aws.stub.add_client_error("describe_labeling_job", "ValidationException",
                              f"Could not find requested job with name {JOB}", expected_params={"LabelingJobName": JOB})
    aws.stub.add_response("create_labeling_job", {"LabelingJobArn": ARN}, {
        "LabelingJobName": JOB,
        "LabelAttributeName": "sentiment",
        "InputConfig": {"DataSource": {"S3DataSource": {
            "ManifestS3Uri": f"s3://{BUCKET}/labeling/sentiment/{JOB}/input.manifest"}}},
        "OutputConfig": {"S3OutputPath": OUTPUT},
        "RoleArn": "arn:aws:iam::123456789012:role/GroundTruth",
        "LabelCategoryConfigS3Uri": f"s3://{BUCKET}/labeling/sentiment/{JOB}/categories.json",
        "StoppingConditions": {"MaxHumanLabeledObjectCount": 6},
        "HumanTaskConfig": ANY,
    })
    aws.stub.add_response("describe_labeling_job", describe("Initializing"))
    op = GroundTruthLabelingOperator(task_id="label", manifest=str(project.manifest))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    aws.stub.assert_no_pending_responses()
    return deferred.value


def read(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def answer(worker: str, label: Any) -> dict[str, Any]:
    return {"acceptanceTime": "2026-10-31T10:00:00.000Z", "answerContent": {"crowd-classifier": {"label": label}},
            "submissionTime": "2026-10-31T10:00:07.000Z", "timeSpentInSeconds": 7.0, "workerId": worker,
            "workerMetadata": {"identityData": {"identityProviderType": "Cognito", "issuer": "https://cognito-idp",
                                                "sub": worker[-4:]}}}


def write_ground_truth_output(s3: Any, object_ids: list[str]) -> dict[str, Any]:
    """What Ground Truth writes when the job completes, in its documented layout."""
    base = f"labeling/sentiment/output/{JOB}"
    responses = f"{base}/annotations/worker-response/iteration-1"
    workers = ["private.us-east-1.aaaa1111", "private.us-east-1.bbbb2222", "private.us-east-1.cccc3333"]
    expected_votes = []
    for index in range(4):  # objects 0-3: three workers each
        labels = [CLASSES[(index + w) % 3] for w in range(3)]
        s3.put_object(Bucket=BUCKET, Key=f"{responses}/{index}/2026-10-31_10:00:{index:02d}.json",
                      Body=json.dumps({"answers": [answer(w, lab) for w, lab in zip(workers, labels, strict=True)]}))
        expected_votes += [(object_ids[index], w, lab) for w, lab in zip(workers, labels, strict=True)]
    # A late fourth worker on object 2 with a label outside the category set.
    s3.put_object(Bucket=BUCKET, Key=f"{responses}/2/2026-10-31_11:00:00.json",
                  Body=json.dumps({"answers": [answer("private.us-east-1.dddd4444", "great")]}))
    s3.put_object(Bucket=BUCKET, Key=f"{responses}/4/2026-10-31_10:00:04.json", Body=b'{"answers": [{"workerId": ')
    s3.put_object(Bucket=BUCKET, Key=f"{responses}/9/2026-10-31_10:00:09.json",
                  Body=json.dumps({"answers": [answer(workers[0], "pos")]}))
    # Object 5 got no answer. The output manifest holds Ground Truth's own consolidation.
    lines = []
    for index, item in enumerate(object_ids):
        meta = ({"failure-reason": "ClientError: no worker answered in time"} if index == 5 else
                {"class-name": CLASSES[index % 3], "confidence": 0.71, "type": "groundtruth/text-classification",
                 "job-name": f"labeling-job/{JOB}", "human-annotated": "yes",
                 "creation-date": "2026-10-31T12:00:00.000000"})
        line = {"source": "text", "id": item, "sentiment-metadata": meta}
        if index != 5:
            line["sentiment"] = index % 3
        lines.append(json.dumps(line))
    s3.put_object(Bucket=BUCKET, Key=f"{base}/manifests/output/output.manifest", Body="\n".join(lines) + "\n")
    return {"votes": expected_votes}


def test_round_from_input_files_to_every_vote(aws: SimpleNamespace, project: SimpleNamespace) -> None:
    from datacentric.labeling.rounds import consolidate_round
    from datacentric.manifest import load_manifest
    from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator
    from datacentric_airflow.triggers.ground_truth import GroundTruthLabelingJobTrigger

    deferred = start_job(aws, project)
    assert isinstance(deferred.trigger, GroundTruthLabelingJobTrigger) and deferred.trigger.job_name == JOB
    assert deferred.trigger.aws_conn_id == "aws_ground_truth_test"

    # The files the job reads are in S3: the input manifest (one object per selected item), the
    # category file and the worker template.
    lines = [json.loads(line) for line in read(aws.s3, f"labeling/sentiment/{JOB}/input.manifest").splitlines()]
    items = pd.read_parquet(project.repo.path("labels", f"sentiment/items/{JOB}.parquet"))
    assert [line["id"] for line in lines] == items["task"].tolist() and len(lines) == 6
    texts = dict(zip(items["task"], items["text"], strict=True))
    assert all(line["source"] == texts[line["id"]] for line in lines)
    assert json.loads(read(aws.s3, f"labeling/sentiment/{JOB}/categories.json"))["labels"] == [
        {"label": c} for c in CLASSES]
    assert b"crowd-classifier" in read(aws.s3, f"labeling/sentiment/{JOB}/template.html")

    expected = write_ground_truth_output(aws.s3, [line["id"] for line in lines])
    aws.stub.add_response("describe_labeling_job", describe("Completed"))  # finish_round's status
    aws.stub.add_response("describe_labeling_job", describe("Completed", LabelingJobOutput={
        "OutputDatasetS3Uri": f"{OUTPUT}{JOB}/manifests/output/output.manifest"}))
    op = GroundTruthLabelingOperator(task_id="label", manifest=str(project.manifest))
    result = op.execute_complete(context(), {"status": "success", "job_name": JOB, "message": "completed"})
    aws.stub.assert_no_pending_responses()

    votes = pd.read_parquet(project.repo.path("labels", f"sentiment/votes/{JOB}.parquet"))
    assert sorted(map(tuple, votes[["task", "worker", "label"]].to_numpy())) == sorted(expected["votes"])
    rejected = pd.read_parquet(project.repo.path("labels", f"sentiment/responses_rejected/{JOB}.parquet"))
    reasons = sorted(rejected["reason"])
    assert reasons[0].startswith("label outside the category set") and rejected["origin"].str.startswith("s3://").all()
    assert reasons[1] == "object 9 is not in the job's input manifest (6 objects)"
    assert reasons[2].startswith("worker response is not JSON")
    assert (result["votes"], result["rejected"], result["state"]) == (12, 3, "collected")
    assert any("1 line(s) without a label" in m and "no worker answered in time" in m for m in result["messages"])
    raw = project.repo.path("labels", f"sentiment/responses/{JOB}")
    assert (raw / "output.manifest").read_bytes() == read(aws.s3, f"labeling/sentiment/output/{JOB}/manifests/"
                                                                   "output/output.manifest")
    assert len((raw / "worker-responses.jsonl").read_text().splitlines()) == 7

    summary = consolidate_round(load_manifest(project.manifest), project.repo, job_name=JOB, run_id="r", created_at=END)
    assert summary.votes_in == summary.votes_used == 12 and summary.items == 4 and summary.items_without_answer == 2

    # A retry of the finished task touches neither SageMaker nor S3 (nothing is stubbed: any call fails).
    changes = len(project.repo.changelog())
    again = GroundTruthLabelingOperator(task_id="label", manifest=str(project.manifest)).execute(context())
    assert again["reused"] and again["votes"] == 12 and len(project.repo.changelog()) == changes


def test_a_killed_try_is_resumed_without_a_second_job(aws: SimpleNamespace, project: SimpleNamespace) -> None:
    from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator

    start_job(aws, project)  # the try is killed right after it started the job
    before = {obj["Key"]: obj["ETag"] for obj in aws.s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    aws.stub.add_response("describe_labeling_job", describe("InProgress"), {"LabelingJobName": JOB})
    aws.stub.add_response("describe_labeling_job", describe("InProgress"), {"LabelingJobName": JOB})
    with pytest.raises(TaskDeferred):
        GroundTruthLabelingOperator(task_id="label", manifest=str(project.manifest)).execute(context())
    aws.stub.assert_no_pending_responses()  # and no CreateLabelingJob was made: none was stubbed
    after = {obj["Key"]: obj["ETag"] for obj in aws.s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert after == before


def test_a_job_that_returns_nothing_is_collected_with_a_message(aws: SimpleNamespace, project: SimpleNamespace) -> None:
    from datacentric.labeling.rounds import consolidate_round
    from datacentric.manifest import load_manifest
    from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator

    start_job(aws, project)
    aws.stub.add_response("describe_labeling_job", describe("Completed"))
    aws.stub.add_response("describe_labeling_job", describe("Completed"))
    result = GroundTruthLabelingOperator(task_id="label", manifest=str(project.manifest)).execute_complete(
        context(), {"status": "success", "job_name": JOB})
    assert (result["votes"], result["rejected"]) == (0, 0)
    assert any("no output manifest" in m for m in result["messages"])
    assert any("returned no worker responses" in m for m in result["messages"])
    summary = consolidate_round(load_manifest(project.manifest), project.repo, job_name=JOB, run_id="r", created_at=END)
    assert (summary.votes_in, summary.items) == (0, 0) and "returned no votes" in summary.messages[0]


def test_without_deferring_it_waits_by_rescheduling_never_in_a_sleeping_worker(
    aws: SimpleNamespace, project: SimpleNamespace
) -> None:
    from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout
    from datacentric_airflow.operators.ground_truth import GroundTruthLabelingOperator

    start_job(aws, project)
    write_ground_truth_output(aws.s3, [f"r{i}" for i in range(6)])
    first_try = datetime.now(UTC)
    ti = SimpleNamespace(get_first_reschedule_date=lambda context: first_try)
    op = GroundTruthLabelingOperator(task_id="label", manifest=str(project.manifest), deferrable=False,
                                     poll_interval=60)
    # first try: the job is in progress, so the task gives its slot back until the next check
    for state in ("InProgress", "InProgress"):
        aws.stub.add_response("describe_labeling_job", describe(state))
    with pytest.raises(AirflowRescheduleException) as rescheduled:
        op.execute({**context(), "ti": ti})
    assert timedelta(seconds=50) < rescheduled.value.reschedule_date - first_try < timedelta(seconds=120)
    # the next try finds it completed and collects the votes
    for state in ("Completed", "Completed", "Completed", "Completed"):
        aws.stub.add_response("describe_labeling_job", describe(state))
    result = op.execute({**context(), "ti": ti})
    aws.stub.assert_no_pending_responses()
    assert result["state"] == "collected" and result["votes"] == 12
    # a wait past max_wait_hours fails instead of rescheduling for ever
    long_ago = SimpleNamespace(get_first_reschedule_date=lambda context: first_try - timedelta(days=365))
    with pytest.raises(AirflowSensorTimeout, match="still running after"):
        op._reschedule({"ti": long_ago}, "job", 60, timedelta(hours=240))