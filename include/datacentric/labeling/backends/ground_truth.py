"""SageMaker Ground Truth as a labeling backend, for AWS accounts that already use it: one
text-classification labeling job per round; builds the S3 files and the CreateLabelingJob request and
parses the documented output layouts. Design note: docs/explanation/labeling.md; usage:
docs/how-to/ground-truth.md."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from datacentric.errors import LabelingError
from datacentric.labeling.backends.base import (
    CollectedVotes,
    JobHandle,
    JobStatus,
    LabelingBackend,
    LabelingJobFailed,
)
from datacentric.manifest.model import GroundTruthConfig, LabelTask

# DescribeLabelingJob's LabelingJobStatus values, by what they mean for a waiting round.
INTERMEDIATE_STATES = ("Initializing", "InProgress", "Stopping")
FAILURE_STATES = ("Failed", "Stopped")
SUCCESS_STATES = ("Completed",)

CATEGORY_DOCUMENT_VERSION = "2018-11-28"
ANSWER_ELEMENT = "crowd-classifier"  # the template's element name: the key of each answer's content
# AWS accounts that own Ground Truth's built-in text classification functions (PRE-/ACS-TextMultiClass),
# per region, as listed in the CreateLabelingJob API reference.
BUILT_IN_FUNCTION_ACCOUNTS = {
    "ap-northeast-1": "477331159723",
    "ap-northeast-2": "845288260483",
    "ap-south-1": "565803892007",
    "ap-southeast-1": "377565633583",
    "ap-southeast-2": "454466003867",
    "ca-central-1": "918755190332",
    "eu-central-1": "203001061592",
    "eu-west-1": "568282634449",
    "eu-west-2": "487402164563",
    "us-east-1": "432418664414",
    "us-east-2": "266458841044",
    "us-west-2": "081040173940",
}
_WORKER_RESPONSE = re.compile(r"/annotations/worker-response/iteration-(\d+)/([^/]+)/[^/]+$")


# -- names and places ----------------------------------------------------------------------------


def label_attribute_name(task: LabelTask, config: GroundTruthConfig) -> str:
    """The output manifest's label key: the configured one or the task's name with dashes."""
    return config.label_attribute_name or task.name.replace("_", "-")


@dataclass(frozen=True)
class JobLocations:
    """Where one round's files live in S3."""

    bucket: str
    manifest_key: str
    categories_key: str
    template_key: str
    output_prefix: str  # Ground Truth appends /<job>/ to it

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def output_uri(self) -> str:
        return self.uri(self.output_prefix + "/")


def job_locations(task: LabelTask, config: GroundTruthConfig, job_name: str) -> JobLocations:
    base = "/".join(part for part in (config.prefix.strip("/"), task.name) if part)
    return JobLocations(
        bucket=config.bucket,
        manifest_key=f"{base}/{job_name}/input.manifest",
        categories_key=f"{base}/{job_name}/categories.json",
        template_key=f"{base}/{job_name}/template.html",
        output_prefix=f"{base}/output",
    )


def console_url(region: str, job_name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/groundtruth?region={region}#/labeling-jobs/details/{job_name}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3://([^/]+)/?(.*)$", uri or "")
    if not match:
        raise LabelingError(f"not an S3 URI: {uri!r}")
    return match.group(1), match.group(2)


# -- the files a job reads -------------------------------------------------------------------------


def input_manifest(items: pd.DataFrame) -> bytes:
    """JSON lines, one per item in order: `source` (the text inline) or `source-ref` (an S3 URI in an
    optional `source_ref` column), plus `id`, which Ground Truth copies into the output manifest."""
    refs = items["source_ref"] if "source_ref" in items.columns else pd.Series(None, index=items.index)
    lines = []
    for task_id, text, ref in zip(items["task"].astype(str), items["text"], refs, strict=True):
        entry: dict[str, Any] = {"id": task_id}
        if isinstance(ref, str) and ref:
            entry["source-ref"] = ref
        else:
            entry["source"] = "" if text is None else str(text)
        lines.append(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def parse_input_manifest(data: bytes, origin: str) -> list[str]:
    """The item id of each line of an input manifest; the line number is Ground Truth's object index."""
    ids = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
            ids.append(str(entry["id"]))
        except (json.JSONDecodeError, TypeError, KeyError):
            raise LabelingError(f"{origin}:{number}: input manifest line has no item 'id'") from None
    return ids


def label_categories(task: LabelTask) -> bytes:
    """The label category file: the task's classes in order (the label value is the class index)."""
    document = {"document-version": CATEGORY_DOCUMENT_VERSION, "labels": [{"label": c} for c in task.classes]}
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _liquid_safe(text: str) -> str:
    # HTML-escaped, and braces too, so the instructions cannot open a Liquid tag.
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def worker_template(task: LabelTask, config: GroundTruthConfig) -> bytes:
    """The worker UI: Ground Truth's crowd-classifier with the task's instructions. The categories
    and the text come from the built-in pre-annotation function (task.input.labels, taskObject)."""
    title = _liquid_safe(config.task_title or _default_title(task))
    instructions = _liquid_safe(task.instructions or f"Choose the class that fits: {', '.join(task.classes)}.")
    page = f"""<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-classifier name="{ANSWER_ELEMENT}" categories="{{{{ task.input.labels | to_json | escape }}}}"
                    header="{title}">
    <classification-target>{{{{ task.input.taskObject }}}}</classification-target>
    <full-instructions header="Instructions"><p>{instructions}</p></full-instructions>
    <short-instructions><p>{instructions}</p></short-instructions>
  </crowd-classifier>
</crowd-form>
"""
    return page.encode("utf-8")


def _default_title(task: LabelTask) -> str:
    return f"{task.name.replace('_', ' ')}: choose one of {', '.join(task.classes)}"[:128]


def built_in_function_arns(region: str) -> tuple[str, str]:
    """Ground Truth's pre-annotation and consolidation functions for text classification in `region`."""
    account = BUILT_IN_FUNCTION_ACCOUNTS.get(region)
    if account is None:
        raise LabelingError(
            f"Ground Truth has no built-in text classification functions listed for region {region!r} "
            f"(regions: {', '.join(sorted(BUILT_IN_FUNCTION_ACCOUNTS))}); set ground_truth.pre_human_task_lambda_arn "
            "and ground_truth.annotation_consolidation_lambda_arn in the manifest"
        )
    return (f"arn:aws:lambda:{region}:{account}:function:PRE-TextMultiClass",
            f"arn:aws:lambda:{region}:{account}:function:ACS-TextMultiClass")


def labeling_job_request(
    task: LabelTask, config: GroundTruthConfig, job_name: str, *, region: str, locations: JobLocations
) -> dict[str, Any]:
    """The CreateLabelingJob request of a round: N workers per object, the task time limits and the
    stopping conditions from the manifest."""
    pre, consolidation = (config.pre_human_task_lambda_arn, config.annotation_consolidation_lambda_arn)
    if pre is None or consolidation is None:
        built_in_pre, built_in_consolidation = built_in_function_arns(region)
        pre, consolidation = pre or built_in_pre, consolidation or built_in_consolidation
    human: dict[str, Any] = {
        "WorkteamArn": config.workteam_arn,
        "UiConfig": {"UiTemplateS3Uri": locations.uri(locations.template_key)},
        "PreHumanTaskLambdaArn": pre,
        "TaskKeywords": list(config.task_keywords),
        "TaskTitle": config.task_title or _default_title(task),
        "TaskDescription": (config.task_description or task.instructions or _default_title(task))[:255],
        "NumberOfHumanWorkersPerDataObject": task.workers_per_item,
        "TaskTimeLimitInSeconds": config.task_time_limit_seconds,
        "TaskAvailabilityLifetimeInSeconds": config.task_availability_lifetime_seconds,
        "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": consolidation},
    }
    if config.max_concurrent_task_count is not None:
        human["MaxConcurrentTaskCount"] = config.max_concurrent_task_count
    request: dict[str, Any] = {
        "LabelingJobName": job_name,
        "LabelAttributeName": label_attribute_name(task, config),
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": locations.uri(locations.manifest_key)}}},
        "OutputConfig": {"S3OutputPath": locations.output_uri},
        "RoleArn": config.role_arn,
        "LabelCategoryConfigS3Uri": locations.uri(locations.categories_key),
        "HumanTaskConfig": human,
    }
    stopping = {}
    if config.max_human_labeled_object_count is not None:
        stopping["MaxHumanLabeledObjectCount"] = config.max_human_labeled_object_count
    if config.max_percentage_of_input_dataset_labeled is not None:
        stopping["MaxPercentageOfInputDatasetLabeled"] = config.max_percentage_of_input_dataset_labeled
    if stopping:
        request["StoppingConditions"] = stopping
    if config.tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(config.tags.items())]
    return request


# -- the files a job writes ------------------------------------------------------------------------

OUTPUT_COLUMNS = ["task", "label", "class_index", "confidence", "type", "job_name", "human_annotated", "creation_date"]


def parse_output_manifest(
    data: bytes, *, label_attribute: str, classes: list[str], origin: str
) -> tuple[pd.DataFrame, list[tuple[str, str, str, str, str]]]:
    """Ground Truth's consolidated label of each object: the class index under the label attribute
    and its `-metadata` (class-name, confidence, type, job-name, human-annotated, creation-date).

    Returns the labels (OUTPUT_COLUMNS) and the lines that carry none, each with its reason
    (including objects Ground Truth itself failed, with their `failure-reason`). Never raises on a
    bad line."""
    rows, rejected = [], []
    meta_key = f"{label_attribute}-metadata"
    text = data.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{origin}:{number}"
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            rejected.append(("", "", "", f"output manifest line is not JSON: {exc.msg}", where))
            continue
        if not isinstance(entry, dict):
            rejected.append(("", "", "", "output manifest line is not a JSON object", where))
            continue
        item = str(entry.get("id", ""))
        meta = entry.get(meta_key)
        if not isinstance(meta, dict):
            rejected.append((item, "", "", f"no {meta_key!r} object", where))
            continue
        if "failure-reason" in meta:
            rejected.append((item, "", "", f"Ground Truth failed the object: {meta['failure-reason']}", where))
            continue
        name, index = meta.get("class-name"), entry.get(label_attribute)
        if name not in classes:
            rejected.append((item, "", str(name), "class-name outside the category set " + json.dumps(classes), where))
            continue
        if not isinstance(index, int) or isinstance(index, bool) or classes.index(name) != index:
            rejected.append((item, "", str(name),
                             f"label {label_attribute!r} is {index!r}, not the index {classes.index(name)} of "
                             f"class-name {name!r}", where))
            continue
        if not item:
            rejected.append(("", "", str(name), "output manifest line has no item 'id'", where))
            continue
        confidence = meta.get("confidence")
        rows.append((item, name, index, float(confidence) if isinstance(confidence, (int, float)) else float("nan"),
                     str(meta.get("type", "")), str(meta.get("job-name", "")), str(meta.get("human-annotated", "")),
                     str(meta.get("creation-date", ""))))
    return pd.DataFrame(rows, columns=OUTPUT_COLUMNS), rejected


def output_manifest(
    consolidated: pd.DataFrame, items: pd.DataFrame, task: LabelTask, job_name: str, created_at: datetime
) -> str:
    """JSON lines in the layout Ground Truth writes for text classification, so its readers work:
    the item (`source`), the class index under the label attribute (the task's name with dashes:
    Ground Truth's attribute names allow no underscores), and the `<attribute>-metadata` object with
    class-name, confidence, type, job-name, human-annotated and creation-date."""
    attribute = task.name.replace("_", "-")
    texts = dict(zip(items["task"].astype(str), items["text"], strict=True))
    created = created_at.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()
    index = {c: i for i, c in enumerate(task.classes)}
    lines = []
    for row in consolidated[["task", "label", "confidence"]].itertuples(index=False):
        lines.append(
            json.dumps(
                {
                    "source": texts.get(row.task, ""),
                    "id": row.task,
                    attribute: index[row.label],
                    f"{attribute}-metadata": {
                        "class-name": row.label,
                        "confidence": round(float(row.confidence), 4),
                        "type": "groundtruth/text-classification",
                        "job-name": f"labeling-job/{job_name}",
                        "human-annotated": "yes",
                        "creation-date": created,
                    },
                },
                sort_keys=True,
            )
        )
    return "\n".join(lines) + ("\n" if lines else "")


def parse_worker_response(
    data: bytes, *, key: str, object_ids: list[str], classes: list[str]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str, str]]]:
    """The votes in one worker-response file (annotations/worker-response/iteration-N/<i>/<time>.json):
    {"answers": [{"workerId": ..., "answerContent": {"crowd-classifier": {"label": ...}}, ...}]}.

    Object <i> is the i-th line of the input manifest (`object_ids`). Every answer becomes a vote or
    a rejected response with its reason; a malformed file is one rejected response. Never raises."""
    votes: list[tuple[str, str, str]] = []
    rejected: list[tuple[str, str, str, str, str]] = []
    match = _WORKER_RESPONSE.search("/" + key.lstrip("/"))
    if not match or not match.group(2).isdigit():
        return votes, [("", "", "", "not a worker-response path (.../worker-response/iteration-N/<object>/<file>)",
                        key)]
    index = int(match.group(2))
    if index >= len(object_ids):
        return votes, [("", "", "", f"object {index} is not in the job's input manifest "
                                    f"({len(object_ids)} objects)", key)]
    item = object_ids[index]
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return votes, [(item, "", "", f"worker response is not JSON: {exc}", key)]
    answers = document.get("answers") if isinstance(document, dict) else None
    if not isinstance(answers, list):
        return votes, [(item, "", "", "worker response has no 'answers' list", key)]
    for number, answer in enumerate(answers):
        where = f"{key}#answers[{number}]"
        if not isinstance(answer, dict):
            rejected.append((item, "", "", "answer is not a JSON object", where))
            continue
        worker = answer.get("workerId")
        if not isinstance(worker, str) or not worker.strip():
            rejected.append((item, "", "", "answer has no 'workerId'", where))
            continue
        label, problem = _answer_label(answer.get("answerContent"))
        if problem:
            rejected.append((item, worker, "", problem, where))
        elif label not in classes:
            rejected.append((item, worker, str(label), "label outside the category set " + json.dumps(classes), where))
        else:
            votes.append((item, worker.strip(), label))
    return votes, rejected


def _answer_label(content: Any) -> tuple[str, str]:
    """The chosen class of one answer's content; the template names the element (crowd-classifier)."""
    if not isinstance(content, dict):
        return "", "answer has no 'answerContent' object"
    element = content.get(ANSWER_ELEMENT)
    if element is None:  # a custom template may name its element otherwise: take the one with a label
        labelled = [v for v in content.values() if isinstance(v, dict) and "label" in v]
        if len(labelled) != 1:
            return "", f"answerContent has no {ANSWER_ELEMENT!r} element with a 'label'"
        element = labelled[0]
    if not isinstance(element, dict) or "label" not in element:
        return "", f"{ANSWER_ELEMENT!r} answer has no 'label'"
    label = element["label"]
    if not isinstance(label, str) or not label.strip():
        return "", f"label is not text: {label!r}"
    return label.strip(), ""


# -- the backend -----------------------------------------------------------------------------------


class GroundTruthBackend(LabelingBackend):
    """Rounds as Ground Truth labeling jobs. Resources: `sagemaker` and `s3` (boto3 clients) and
    optionally `region` (default: the SageMaker client's region)."""

    type = "ground_truth"

    @property
    def sagemaker(self) -> Any:
        return self._resource("sagemaker")

    @property
    def s3(self) -> Any:
        return self._resource("s3")

    @property
    def region(self) -> str:
        return self.resources.get("region") or self.sagemaker.meta.region_name

    def describe(self, job_name: str) -> dict[str, Any] | None:
        """DescribeLabelingJob's answer, or None when no job has that name."""
        return describe_labeling_job(self.sagemaker, job_name)

    def submit(self, job_name: str, items: pd.DataFrame) -> JobHandle:
        existing = self.describe(job_name)
        if existing is not None:
            return JobHandle(job_name, existing["LabelingJobArn"], console_url(self.region, job_name), existing=True)
        if items.empty:
            raise LabelingError(f"labeling job {job_name!r}: no items to label; Ground Truth needs at least one")
        locations = job_locations(self.task, self.config, job_name)
        request = labeling_job_request(self.task, self.config, job_name, region=self.region, locations=locations)
        for key, body, kind in (
            (locations.manifest_key, input_manifest(items), "application/jsonlines"),
            (locations.categories_key, label_categories(self.task), "application/json"),
            (locations.template_key, worker_template(self.task, self.config), "text/html"),
        ):
            self._put(locations.bucket, key, body, kind)
        from botocore.exceptions import ClientError

        try:
            answer = self.sagemaker.create_labeling_job(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ResourceInUse":  # started by a concurrent try in the meantime
                raced = self.describe(job_name)
                if raced is not None:
                    return JobHandle(job_name, raced["LabelingJobArn"], console_url(self.region, job_name), True)
            raise LabelingError(f"CreateLabelingJob {job_name!r} failed: {error.get('Code')}: "
                                f"{error.get('Message')}") from None
        return JobHandle(job_name, answer["LabelingJobArn"], console_url(self.region, job_name))

    def status(self, job_name: str) -> JobStatus:
        job = self.describe(job_name)
        if job is None:
            return JobStatus(job_name, "failed", message=f"no Ground Truth labeling job named {job_name!r}")
        return job_status(job)

    def collect(self, job_name: str, items: pd.DataFrame) -> CollectedVotes:
        job = self.describe(job_name)
        if job is None:
            raise LabelingError(f"no Ground Truth labeling job named {job_name!r} to collect")
        state = job["LabelingJobStatus"]
        if state not in SUCCESS_STATES:
            raise LabelingJobFailed(self.type, job_name, job.get("FailureReason") or f"its status is {state}")
        manifest_uri = job["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"]
        object_ids = parse_input_manifest(self._get(*split_s3_uri(manifest_uri)), manifest_uri)
        bucket, output_prefix = split_s3_uri(job["OutputConfig"]["S3OutputPath"])
        job_prefix = "/".join(p for p in (output_prefix.strip("/"), job_name) if p)
        votes: list[tuple[str, str, str]] = []
        rejected: list[tuple[str, str, str, str, str]] = []
        responses = []
        for key in self._keys(bucket, f"{job_prefix}/annotations/worker-response/"):
            body = self._get(bucket, key)
            found, bad = parse_worker_response(body, key=f"s3://{bucket}/{key}", object_ids=object_ids,
                                               classes=list(self.task.classes))
            votes += found
            rejected += bad
            responses.append(json.dumps({"key": key, "response": body.decode("utf-8", errors="replace")}))
        messages = []
        raw = {"worker-responses.jsonl": ("\n".join(responses) + ("\n" if responses else "")).encode("utf-8")}
        output_uri = (job.get("LabelingJobOutput") or {}).get("OutputDatasetS3Uri") or (
            f"s3://{bucket}/{job_prefix}/manifests/output/output.manifest")
        output = self._get_if_present(*split_s3_uri(output_uri))
        if output is None:
            messages.append(f"job {job_name}: no output manifest at {output_uri}")
        else:
            raw["output.manifest"] = output
            labeled, failed = parse_output_manifest(output, label_attribute=job.get("LabelAttributeName")
                                                    or label_attribute_name(self.task, self.config),
                                                    classes=list(self.task.classes), origin=output_uri)
            messages.append(f"job {job_name}: Ground Truth consolidated {len(labeled)} object(s) in {output_uri}"
                            + (f"; {len(failed)} line(s) without a label, e.g. {failed[0][4]}: {failed[0][3]}"
                               if failed else ""))
        if not votes and not rejected:
            messages.append(f"job {job_name} returned no worker responses under s3://{bucket}/{job_prefix}/"
                            "annotations/worker-response/")
        return CollectedVotes.from_rows(votes, rejected, raw=raw, messages=messages)

    # -- S3 ----------------------------------------------------------------------------------------

    def _put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def _get(self, bucket: str, key: str) -> bytes:
        """The object's bytes; a missing or unreadable object is a LabelingError naming it."""
        body = self._get_if_present(bucket, key)
        if body is None:
            raise LabelingError(f"s3://{bucket}/{key}: cannot read it: NoSuchKey")
        return body

    def _get_if_present(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        from botocore.exceptions import ClientError

        try:
            return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise LabelingError(f"s3://{bucket}/{key}: cannot read it: {code}") from None

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return sorted(keys)


def describe_labeling_job(client: Any, job_name: str) -> dict[str, Any] | None:
    """DescribeLabelingJob, or None when the job does not exist (SageMaker answers ValidationException)."""
    from botocore.exceptions import ClientError

    try:
        return client.describe_labeling_job(LabelingJobName=job_name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = str(error.get("Message", "")).lower()
        if error.get("Code") in ("ResourceNotFound", "ValidationException") and (
            "not find" in message or "not exist" in message or "not found" in message
        ):
            return None
        raise


def job_status(job: dict[str, Any]) -> JobStatus:
    """A DescribeLabelingJob answer as a JobStatus (Completed, Failed/Stopped, or still waiting)."""
    state = job["LabelingJobStatus"]
    counters = job.get("LabelCounters") or {}
    done = int(counters.get("TotalLabeled", 0)) + int(counters.get("FailedNonRetryableError", 0))
    total = done + int(counters.get("Unlabeled", 0))
    name = job.get("LabelingJobName", "")
    if state in SUCCESS_STATES:
        return JobStatus(name, "completed", done, total)
    if state in FAILURE_STATES:
        return JobStatus(name, "failed", done, total, job.get("FailureReason") or f"the job was {state.lower()}")
    return JobStatus(name, "in_progress", done, total, state)
