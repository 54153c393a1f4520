"""The Ground Truth backend: the files a job reads, the CreateLabelingJob request (checked against
botocore's service model by Stubber on a real boto3 client), and parsers of the documented output
layouts (output manifest with its `-metadata`, worker responses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber
from datacentric.errors import LabelingError
from datacentric.labeling.backends import get_backend
from datacentric.labeling.backends.ground_truth import (
    ANSWER_ELEMENT,
    FAILURE_STATES,
    INTERMEDIATE_STATES,
    SUCCESS_STATES,
    built_in_function_arns,
    input_manifest,
    job_locations,
    job_status,
    label_attribute_name,
    label_categories,
    labeling_job_request,
    parse_input_manifest,
    parse_output_manifest,
    parse_worker_response,
    worker_template,
)
from datacentric.manifest import parse_manifest

CLASSES = ["bad", "ok", "good", "excellent"]
LABEL_TASK = """\
  name: food_review
  classes: [bad, ok, good, excellent]
  instructions: "Rate the {{food}} <b>review</b>"
  workers_per_item: 3
  backend: ground_truth
  ground_truth:
    bucket: labeling-bucket
    prefix: rounds/
    role_arn: arn:aws:iam::123456789012:role/GroundTruth
    workteam_arn: arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers
    task_time_limit_seconds: 600
    max_concurrent_task_count: 100
    max_human_labeled_object_count: 500
    max_percentage_of_input_dataset_labeled: 90
    tags: {team: ml}
"""
JOB = "food-review-20261031t000000z"
ITEMS = pd.DataFrame({"task": ["R1", "R2", "R3"], "text": ["The food was delicious", "Meh", 'Said "ok"\nthen left']})


@pytest.fixture
def task(reviews_manifest):
    return parse_manifest(reviews_manifest(LABEL_TASK)).spec.label_task


def sagemaker_client():
    return boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def s3_client():
    return boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def test_input_manifest_is_json_lines_in_item_order() -> None:
    data = input_manifest(ITEMS)
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert lines == [{"id": "R1", "source": "The food was delicious"}, {"id": "R2", "source": "Meh"},
                     {"id": "R3", "source": 'Said "ok"\nthen left'}]
    assert parse_input_manifest(data, "input.manifest") == ["R1", "R2", "R3"]
    refs = ITEMS.assign(source_ref=["s3://b/r1.txt", None, ""])
    first, second, _ = [json.loads(line) for line in input_manifest(refs).decode().splitlines()]
    assert first == {"id": "R1", "source-ref": "s3://b/r1.txt"} and "source" in second
    with pytest.raises(LabelingError, match=r"input.manifest:2: input manifest line has no item 'id'"):
        parse_input_manifest(b'{"id": "a"}\n{"source": "x"}\n', "input.manifest")


def test_category_file_and_template(task) -> None:
    categories = json.loads(label_categories(task))
    assert categories == {"document-version": "2018-11-28", "labels": [{"label": c} for c in CLASSES]}
    page = worker_template(task, task.ground_truth).decode()
    assert f'<crowd-classifier name="{ANSWER_ELEMENT}"' in page and "{{ task.input.taskObject }}" in page
    # The instructions are escaped: no HTML from them, no Liquid tag either.
    assert "<b>" not in page and "{{food}}" not in page and "&lt;b&gt;review" in page


def test_create_labeling_job_request_passes_the_service_model(task) -> None:
    config = task.ground_truth
    locations = job_locations(task, config, JOB)
    assert locations.manifest_key == f"rounds/food_review/{JOB}/input.manifest"
    request = labeling_job_request(task, config, JOB, region="us-east-1", locations=locations)
    assert request["LabelAttributeName"] == label_attribute_name(task, config) == "food-review"
    human = request["HumanTaskConfig"]
    assert human["NumberOfHumanWorkersPerDataObject"] == 3 and human["TaskTimeLimitInSeconds"] == 600
    assert human["PreHumanTaskLambdaArn"] == "arn:aws:lambda:us-east-1:432418664414:function:PRE-TextMultiClass"
    assert request["StoppingConditions"] == {"MaxHumanLabeledObjectCount": 500,
                                             "MaxPercentageOfInputDatasetLabeled": 90}
    assert request["OutputConfig"]["S3OutputPath"] == "s3://labeling-bucket/rounds/food_review/output/"
    client = sagemaker_client()
    with Stubber(client) as stub:
        stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:x"}, request)
        assert client.create_labeling_job(**request)["LabelingJobArn"] == "arn:x"
        stub.assert_no_pending_responses()


def test_built_in_functions_per_region() -> None:
    assert built_in_function_arns("eu-west-1")[1] == "arn:aws:lambda:eu-west-1:568282634449:function:ACS-TextMultiClass"
    with pytest.raises(LabelingError, match="region 'af-south-1'.*set ground_truth.pre_human_task_lambda_arn"):
        built_in_function_arns("af-south-1")


def test_submit_describes_first_then_writes_files_and_creates_the_job(task) -> None:
    sagemaker, s3 = sagemaker_client(), s3_client()
    backend = get_backend(task, sagemaker=sagemaker, s3=s3)
    locations = job_locations(task, task.ground_truth, JOB)
    with Stubber(sagemaker) as sm, Stubber(s3) as files:
        sm.add_client_error("describe_labeling_job", "ValidationException",
                            f"Could not find requested job with name {JOB}", expected_params={"LabelingJobName": JOB})
        for key, body in ((locations.manifest_key, input_manifest(ITEMS)),
                          (locations.categories_key, label_categories(task)),
                          (locations.template_key, worker_template(task, task.ground_truth))):
            files.add_response("put_object", {}, {"Bucket": "labeling-bucket", "Key": key, "Body": body,
                                                  "ContentType": ANY})
        sm.add_response("create_labeling_job", {"LabelingJobArn": f"arn:aws:sagemaker:us-east-1:1:labeling-job/{JOB}"},
                        labeling_job_request(task, task.ground_truth, JOB, region="us-east-1", locations=locations))
        handle = backend.submit(JOB, ITEMS)
        sm.assert_no_pending_responses()
        files.assert_no_pending_responses()
    assert handle.job_id.endswith(JOB) and not handle.existing
    assert handle.url.startswith("https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth") and JOB in handle.url


def test_submit_never_creates_a_second_job(task) -> None:
    sagemaker, s3 = sagemaker_client(), s3_client()
    backend = get_backend(task, sagemaker=sagemaker, s3=s3)
    with Stubber(sagemaker) as sm, Stubber(s3):
        sm.add_response("describe_labeling_job", describe(JOB, "InProgress"), {"LabelingJobName": JOB})
        handle = backend.submit(JOB, ITEMS)  # an unstubbed put_object or create_labeling_job would raise
        sm.assert_no_pending_responses()
    assert handle.existing and handle.job_id.endswith(JOB)


def test_a_concurrent_create_finds_the_job(task) -> None:
    sagemaker, s3 = sagemaker_client(), s3_client()
    backend = get_backend(task, sagemaker=sagemaker, s3=s3)
    with Stubber(sagemaker) as sm, Stubber(s3) as files:
        sm.add_client_error("describe_labeling_job", "ValidationException", "Could not find requested job")
        for _ in range(3):
            files.add_response("put_object", {})
        sm.add_client_error("create_labeling_job", "ResourceInUse", f"Job {JOB} already exists")
        sm.add_response("describe_labeling_job", describe(JOB, "Initializing"))
        assert backend.submit(JOB, ITEMS).existing


def test_create_errors_are_clear(task) -> None:
    sagemaker, s3 = sagemaker_client(), s3_client()
    backend = get_backend(task, sagemaker=sagemaker, s3=s3)
    with Stubber(sagemaker) as sm, Stubber(s3) as files:
        sm.add_client_error("describe_labeling_job", "ValidationException", "Could not find requested job")
        for _ in range(3):
            files.add_response("put_object", {})
        sm.add_client_error("create_labeling_job", "ResourceLimitExceeded", "too many labeling jobs")
        with pytest.raises(LabelingError, match=f"CreateLabelingJob '{JOB}' failed: ResourceLimitExceeded: too many"):
            backend.submit(JOB, ITEMS)


def describe(job_name: str, state: str, **extra) -> dict:
    """A DescribeLabelingJob answer (validated against the output shape by Stubber)."""
    now = datetime(2026, 10, 31, tzinfo=UTC)
    return {
        "LabelingJobStatus": state,
        "LabelCounters": {"TotalLabeled": 2, "HumanLabeled": 2, "MachineLabeled": 0, "FailedNonRetryableError": 0,
                          "Unlabeled": 1},
        "CreationTime": now, "LastModifiedTime": now, "JobReferenceCode": "ref",
        "LabelingJobName": job_name, "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:1:labeling-job/{job_name}",
        "LabelAttributeName": "food-review",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/in.manifest"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/out/"},
        "RoleArn": "arn:aws:iam::123456789012:role/GroundTruth",
        "HumanTaskConfig": {
            "WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers",
            "UiConfig": {"UiTemplateS3Uri": "s3://b/t.html"}, "PreHumanTaskLambdaArn": "arn:aws:lambda:x",
            "TaskTitle": "t", "TaskDescription": "d", "NumberOfHumanWorkersPerDataObject": 3,
            "TaskTimeLimitInSeconds": 300, "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": "a"},
        },
        **extra,
    }


@pytest.mark.parametrize("state", INTERMEDIATE_STATES + FAILURE_STATES + SUCCESS_STATES)
def test_status_of_every_job_state(state: str) -> None:
    status = job_status(describe(JOB, state, FailureReason="ClientError: the role cannot read s3://b/in.manifest")
                        if state == "Failed" else describe(JOB, state))
    expected = {"Completed": "completed", "Failed": "failed", "Stopped": "failed"}.get(state, "in_progress")
    assert (status.state, status.done, status.total) == (expected, 2, 3)
    if state == "Failed":
        assert "the role cannot read" in status.message
    if state == "Stopped":
        assert status.message == "the job was stopped"


# The documented text-classification line of an output manifest (label = index of class-name).
DOCUMENTED_OUTPUT = {
    "source": "The food was delicious",
    "id": "R1",
    "food-review": 3,
    "food-review-metadata": {
        "class-name": "excellent",
        "job-name": "labeling-job/text-classification",
        "confidence": 0.8,
        "type": "groundtruth/text-classification",
        "human-annotated": "yes",
        "creation-date": "2018-10-18T22:18:13.527256",
    },
}


def test_output_manifest_documented_layout_and_bad_lines() -> None:
    lines = [
        json.dumps(DOCUMENTED_OUTPUT),
        "{not json",
        json.dumps({"source": "x", "id": "R2", "food-review-metadata": {"failure-reason": "ClientError: no workers"}}),
        json.dumps({**DOCUMENTED_OUTPUT, "id": "R3", "food-review": 1}),  # index disagrees with class-name
        json.dumps({**DOCUMENTED_OUTPUT, "id": "R4", "food-review-metadata": {
            **DOCUMENTED_OUTPUT["food-review-metadata"], "class-name": "superb"}}),
        "[1, 2]",
        "",
    ]
    labeled, rejected = parse_output_manifest("\n".join(lines).encode(), label_attribute="food-review",
                                              classes=CLASSES, origin="s3://b/output.manifest")
    row = labeled.iloc[0].to_dict()
    assert len(labeled) == 1 and row["task"] == "R1" and row["label"] == "excellent" and row["class_index"] == 3
    assert (row["confidence"], row["type"], row["human_annotated"]) == (0.8, "groundtruth/text-classification", "yes")
    assert (row["job_name"], row["creation_date"]) == ("labeling-job/text-classification", "2018-10-18T22:18:13.527256")
    reasons = {origin.rsplit(":", 1)[1]: reason for *_, reason, origin in rejected}
    assert reasons["2"].startswith("output manifest line is not JSON")
    assert reasons["3"] == "Ground Truth failed the object: ClientError: no workers"
    assert "not the index 3 of class-name 'excellent'" in reasons["4"]
    assert reasons["5"].startswith("class-name outside the category set")
    assert reasons["6"] == "output manifest line is not a JSON object"


def worker_response(*answers: dict) -> bytes:
    """A worker-response file in the documented layout."""
    return json.dumps({"answers": list(answers)}).encode()


def answer(worker: str, label, element: str = "crowd-classifier") -> dict:
    return {
        "acceptanceTime": "2026-10-31T10:00:00.000Z",
        "answerContent": {element: {"label": label}},
        "submissionTime": "2026-10-31T10:00:09.613Z",
        "timeSpentInSeconds": 9.6,
        "workerId": worker,
        "workerMetadata": {"identityData": {"identityProviderType": "Cognito",
                                            "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x",
                                            "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}},
    }


KEY = "s3://b/out/job/annotations/worker-response/iteration-1/{}/2026-10-31_10:00:10.json"


def test_worker_response_every_answer_is_a_vote_or_a_reason() -> None:
    data = worker_response(
        answer("private.us-east-1.w1", "good"),
        answer("private.us-east-1.w2", " excellent "),
        answer("private.us-east-1.w3", "superb"),
        answer("private.us-east-1.w4", 2),
        {**answer("", "good")},
        {"workerId": "private.us-east-1.w6"},
        "nonsense",
        answer("private.us-east-1.w8", "ok", element="my-classifier"),  # a custom template's element
    )
    votes, rejected = parse_worker_response(data, key=KEY.format(1), object_ids=["R1", "R2"], classes=CLASSES)
    assert votes == [("R2", "private.us-east-1.w1", "good"), ("R2", "private.us-east-1.w2", "excellent"),
                     ("R2", "private.us-east-1.w8", "ok")]
    assert len(votes) + len(rejected) == 8
    reasons = [r[3] for r in rejected]
    assert reasons[0].startswith("label outside the category set") and rejected[0][2] == "superb"
    assert reasons[1] == "label is not text: 2"
    assert reasons[2] == "answer has no 'workerId'"
    assert reasons[3] == "answer has no 'answerContent' object"
    assert reasons[4] == "answer is not a JSON object"
    assert all(r[4].startswith(KEY.format(1) + "#answers[") for r in rejected)


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        (KEY.format(0), b"{truncated", "worker response is not JSON"),
        (KEY.format(0), b'{"answers": {}}', "worker response has no 'answers' list"),
        (KEY.format(7), worker_response(answer("w", "ok")), "object 7 is not in the job's input manifest (2 objects)"),
        ("s3://b/out/job/annotations/worker-response/iteration-1/x/f.json", b"{}", "not a worker-response path"),
    ],
)
def test_malformed_worker_response_files_are_rejected_not_raised(key: str, data: bytes, reason: str) -> None:
    votes, rejected = parse_worker_response(data, key=key, object_ids=["R1", "R2"], classes=CLASSES)
    assert votes == [] and len(rejected) == 1 and rejected[0][3].startswith(reason) and rejected[0][4] == key


def test_the_service_model_rejects_a_broken_request(task) -> None:
    from botocore.exceptions import ParamValidationError

    locations = job_locations(task, task.ground_truth, JOB)
    request = labeling_job_request(task, task.ground_truth, JOB, region="us-east-1", locations=locations)
    del request["RoleArn"]
    request["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = "3"
    client = sagemaker_client()
    with Stubber(client) as stub:
        stub.add_response("create_labeling_job", {"LabelingJobArn": "arn:x"})
        with pytest.raises(ParamValidationError, match=r'Missing required parameter in input: "RoleArn"(.|\n)*'
                                                       r"NumberOfHumanWorkersPerDataObject"):
            client.create_labeling_job(**request)
