"""The manifest's model: pydantic classes for every source type, relationship, label task and
feature definition, with the cross-field checks. `datacentric.manifest.loader` reads the file."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ColumnType = Literal["int", "float", "str", "bool", "timestamp", "date"]
# Columns the quarantine files add to each rejected row (`datacentric.sources.ingest` and the validation
# suite's REASONS_COLUMN); a source column of the same name would be overwritten there.
RESERVED_COLUMNS = ("_origin", "_row", "_record", "_reasons", "_stage")
# The longest span a duration in the manifest may have (100 years): beyond it timedelta overflows.
MAX_DAYS = 36_525


class _Model(BaseModel):
    # NaN and infinity are refused in every number field ("Input should be a finite number").
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_ALLOWED_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
    "timestamp": (str, datetime, date), "date": (str, datetime, date),
}


class Column(_Model):
    """One column of a source's schema and the rules its values keep."""

    type: ColumnType
    nullable: bool = True
    unique: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = Field(
        default=None, description="the only values the column may hold; each must be of the column's type "
        "(quote numbers meant as text: ['1', '2'])",
    )
    pattern: str | None = None
    format: str | None = Field(
        default=None, description="timestamp/date columns: strptime format of the values (e.g. '%d/%m/%Y %H:%M'); "
        "a value that does not match goes to quarantine. Default: ISO 8601",
    )
    timezone: str | None = Field(
        default=None, description="timestamp/date columns: IANA time zone (e.g. 'Europe/Berlin') of values "
        "written without an offset; default UTC",
    )
    path: str | None = Field(
        default=None, pattern=r"^[^.\s]+(\.[^.\s]+)*$",
        description="jsonl/parquet sources: dotted path of the value in a nested record (e.g. 'device.id'); "
        "default: the top-level field of the column's name",
    )
    description: str = ""

    @model_validator(mode="after")
    def _typed_rules(self) -> Column:
        if self.allowed is not None:
            kinds = _ALLOWED_KINDS[self.type]
            for value in self.allowed:
                wrong = isinstance(value, bool) and self.type != "bool"
                if wrong or not isinstance(value, kinds):
                    quotable = self.type == "str" and not isinstance(value, list | dict)
                    hint = f" (write '{value}' in quotes)" if quotable else ""
                    raise ValueError(f"allowed value {value!r} is a {type(value).__name__}, not a {self.type}{hint}")
        if (self.format is not None or self.timezone is not None) and self.type not in ("timestamp", "date"):
            raise ValueError(f"'format' and 'timezone' are for timestamp and date columns, not {self.type}")
        if self.format is not None:
            if "%" not in self.format:
                raise ValueError(f"format {self.format!r} has no % directive (strptime format, e.g. '%Y-%m-%d')")
            try:
                datetime(2001, 2, 3, 4, 5, 6).strftime(self.format)
            except ValueError as exc:
                raise ValueError(f"format {self.format!r}: {exc}") from None
        if self.timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone name "
                                 "(e.g. 'Europe/Berlin', 'UTC')") from None
        return self

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


_DATE_DIRECTIVES = ("%Y", "%m", "%d", "%H", "%M", "%S")


def _check_date_format(value: str | None) -> str | None:
    if value is None:
        return value
    directives = re.findall(r"%.", value)
    unknown = sorted(set(directives) - set(_DATE_DIRECTIVES))
    if unknown:
        raise ValueError(f"unsupported directive(s) {', '.join(unknown)}; use {', '.join(_DATE_DIRECTIVES)}")
    if "%Y" not in directives:
        raise ValueError("a date format needs at least %Y")
    return value


class FileLocation(_Model):
    """Files in a folder under the landing root: `path` is relative to it and cannot leave it."""

    path: str
    pattern: str = Field(default="*", description="glob of the files, relative to `path` (`**/` descends)")
    format: Literal["csv", "jsonl", "parquet"]
    date_in_name: str | None = Field(
        default=None,
        description="strftime-like format (%Y %m %d %H %M %S) of the date in each file's relative path; "
        "a run for the data interval [start, end) takes only the files dated inside it",
    )
    encoding: str = Field(default="utf-8", description="text encoding of csv/jsonl files")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="field separator of csv files")
    compression: Literal["auto", "none", "gzip", "bz2", "xz", "zstd"] = Field(
        default="auto",
        description="how the files are compressed; 'auto' goes by each file's last extension "
        "(.gz, .bz2, .xz, .zst; any other: not compressed)",
    )

    @field_validator("date_in_name")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        return _check_date_format(value)


class SqlLocation(_Model):
    """A table (or a query) in a SQL database reached by a SQLAlchemy URL or an Airflow connection.

    With `incremental_column` a run reads only new rows: for a timestamp or date column, one unit per
    `partition` (hour, day or month) of the run's data interval, or from the last one read on when the
    run has no interval; for any other column, the rows above the last watermark.
    """

    url: str | None = None
    conn_id: str | None = None
    table: str | None = None
    query: str | None = None
    incremental_column: str | None = None
    partition: Literal["hour", "day", "month"] = "day"

    @model_validator(mode="after")
    def _one_of(self) -> SqlLocation:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if (self.url is None) == (self.conn_id is None):
            raise ValueError("give exactly one of 'url' or 'conn_id'")
        return self


class S3Location(_Model):
    """Objects under a bucket prefix; credentials and endpoint come from an AWS connection."""

    bucket: str
    prefix: str = ""
    pattern: str = Field(default="*", description="glob of the object keys, relative to `prefix`")
    format: Literal["csv", "jsonl", "parquet"]
    conn_id: str = "aws_default"
    date_in_name: str | None = Field(default=None, description="as for file sources, matched in the key")
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    compression: Literal["auto", "none", "gzip", "bz2", "xz", "zstd"] = Field(
        default="auto",
        description="how the objects are compressed; 'auto' goes by each key's last extension "
        "(.gz, .bz2, .xz, .zst; any other: not compressed)",
    )

    @field_validator("date_in_name")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        return _check_date_format(value)


class HttpPagination(_Model):
    """How the API hands out pages: `page` numbers, a `cursor` from the body, or a `link` to the next page
    (the `Link: <...>; rel="next"` header, or `next_path` in the body)."""

    style: Literal["none", "page", "cursor", "link"] = "none"
    page_param: str = "page"
    first_page: int = 1
    size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)
    cursor_param: str = "cursor"
    cursor_path: str | None = Field(default=None, description="dotted path of the next cursor in the body")
    next_path: str | None = Field(default=None, description="dotted path of the next page's URL in the body")
    max_pages: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _style_needs(self) -> HttpPagination:
        if self.style == "cursor" and not self.cursor_path:
            raise ValueError("style 'cursor' needs 'cursor_path' (where the next cursor is in the body)")
        if (self.size_param is None) != (self.page_size is None):
            raise ValueError("give both 'size_param' and 'page_size', or neither")
        return self


class HttpWindow(_Model):
    """Query parameters that ask the API for one slice of time: one unit per `partition`."""

    start_param: str
    end_param: str
    partition: Literal["hour", "day", "month"] = "day"
    earliest: datetime = Field(description="where the first run without a data interval starts")
    format: str = Field(default="%Y-%m-%dT%H:%M:%SZ", description="strftime format of the values, or 'epoch'")
    lookback: int = Field(default=0, ge=0, description="partitions before the run's start (or the cursor of a "
                          "catch-up) asked for again, for records that arrive or change late")


class HttpLocation(_Model):
    """A JSON REST API. `url` is absolute, or a path under the host of the Airflow connection `conn_id`
    (which also supplies the credentials). Records are the list at `records` (a dotted path; empty
    means the body is the list)."""

    url: str
    conn_id: str | None = None
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    records: str = ""
    pagination: HttpPagination = Field(default_factory=HttpPagination)
    window: HttpWindow | None = None
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=3, ge=0, description="retries of transient failures (429, 5xx, timeouts)")
    backoff_seconds: float = Field(default=0.5, ge=0)
    deadline_seconds: float = Field(default=300, gt=0, description="the most one request may take, its body "
                                    "included (`timeout_seconds` bounds each socket read)")
    max_retry_after_seconds: float = Field(default=300, ge=0, description="the longest Retry-After the reader "
                                           "waits; a longer one fails the read (retryable)")
    redirect_hosts: list[str] = Field(default_factory=list, description="other hosts (host or host:port) a "
                                      "redirect may lead to, with the credentials; a redirect to any other host "
                                      "is an error")
    updated_at: str | None = Field(default=None, description="column whose newest value wins when a record "
                                   "(by `keys`) is delivered more than once in one unit")


class ValidationSettings(_Model):
    """How the validation gate judges one source, beyond its columns' rules."""

    drift: Literal["fail", "warn", "evolve"] = Field(
        default="fail",
        description="a change of columns or types against the last schema the gate accepted: fail the gate, "
        "pass with a warning (the accepted schema stays), or pass and accept the new schema",
    )
    expectations: str | None = Field(
        default=None,
        description="YAML file of extra Great Expectations expectations, keyed by source name; "
        "relative to the manifest's folder",
    )
    fail_on_duplicate_keys: bool = Field(default=True, description="fail the gate when any key is duplicated")


class _SourceBase(_Model):
    owner: str
    description: str = ""
    schedule: str = "@daily"
    freshness_hours: float | None = Field(default=None, gt=0, le=MAX_DAYS * 24)
    keys: list[str] = Field(min_length=1)
    event_time: str | None = None
    columns: dict[str, Column] = Field(min_length=1)
    # The validation gate fails the source when more than this share of its rows is quarantined.
    max_quarantine_fraction: float = Field(default=0.05, ge=0, le=1)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: dict[str, Column]) -> dict[str, Column]:
        for name in columns:
            if name in RESERVED_COLUMNS:
                raise ValueError(f"column name {name!r} is reserved: quarantine files add the columns "
                                 f"{', '.join(RESERVED_COLUMNS)} to each rejected row; rename it")
        return columns

    @model_validator(mode="after")
    def _paths_need_records(self) -> _SourceBase:
        location = getattr(self, "location", None)
        fmt = getattr(location, "format", None)
        for name, column in self.columns.items():
            if column.path is not None and fmt not in ("jsonl", "parquet"):
                raise ValueError(f"column {name!r}: 'path' reads nested records, so only jsonl and parquet "
                                 f"files have it (this source: {fmt or type(location).__name__})")
        return self

    @model_validator(mode="after")
    def _keys_are_columns(self) -> _SourceBase:
        for key in self.keys:
            if key not in self.columns:
                raise ValueError(f"key {key!r} is not a column (columns: {', '.join(self.columns)})")
        if self.event_time is not None:
            column = self.columns.get(self.event_time)
            if column is None or column.type not in ("timestamp", "date"):
                raise ValueError(f"event_time {self.event_time!r} must name a timestamp column")
        return self


class FileSource(_SourceBase):
    type: Literal["file"]
    location: FileLocation


class SqlSource(_SourceBase):
    type: Literal["sql"]
    location: SqlLocation

    @model_validator(mode="after")
    def _incremental_column_is_declared(self) -> SqlSource:
        column = self.location.incremental_column
        if column is not None and column not in self.columns:
            raise ValueError(f"location.incremental_column {column!r} is not a column "
                             f"(columns: {', '.join(self.columns)})")
        return self


class S3Source(_SourceBase):
    type: Literal["s3"]
    location: S3Location


class HttpSource(_SourceBase):
    type: Literal["http"]
    location: HttpLocation


# The `type:` of each kind of source; a new kind adds its class here and a reader in sources/.
SOURCE_TYPES = ("file", "sql", "s3", "http")
Source = Annotated[FileSource | SqlSource | S3Source | HttpSource, Field(discriminator="type")]


class Relationship(_Model):
    """`from_` holds keys that must exist in `to`: e.g. reviews.product_id -> products.product_id."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(alias="from", pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    to: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    max_orphan_fraction: float | None = Field(
        default=None, ge=0, le=1,
        description="fail the relationship check when more than this share of `from` rows has no match in `to`",
    )

    def split(self) -> tuple[tuple[str, str], tuple[str, str]]:
        a, b = self.from_.split("."), self.to.split(".")
        return (a[0], a[1]), (b[0], b[1])


class SimulatedWorkforceConfig(_Model):
    """A simulated crowd with known truth: for the demo, tests and benchmarks, never real labels."""

    type: Literal["simulated"] = "simulated"
    truth: str  # file under the landing root with columns <item_key>, label
    workers: int = Field(default=7, ge=1)
    # One per annotator: right with this probability, otherwise a wrong class chosen evenly.
    accuracy: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: [0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5]
    )
    # Full confusion matrices for some annotators (by position, from 0), replacing their accuracy:
    # rows are the true class, columns the answer, in the order of `classes`; each row sums to 1.
    confusion: dict[int, list[list[float]]] = Field(default_factory=dict)
    seed: int = 0

    @model_validator(mode="after")
    def _one_accuracy_per_worker(self) -> SimulatedWorkforceConfig:
        if len(self.accuracy) < self.workers:
            raise ValueError(f"accuracy lists {len(self.accuracy)} annotators; workers is {self.workers}")
        for worker in self.confusion:
            if not 0 <= worker < self.workers:
                raise ValueError(f"confusion: annotator {worker} does not exist (workers: 0..{self.workers - 1})")
        return self


class DawidSkeneOptions(_Model):
    """Stopping rule of Dawid-Skene's EM iterations: at most `n_iter`, and stop once one raises the
    evidence lower bound per vote by less than `tol`."""

    n_iter: int = Field(default=100, ge=1)
    tol: float = Field(default=1e-6, ge=0)


SelectionRule = Literal["label_issue", "low_confidence", "unlabeled"]


class Selection(_Model):
    """Which items a labeling round sends out, in priority order, within the task's budget_per_run.

    `label_issue`: flagged by the label-quality check as a likely label error; `low_confidence`: the
    consolidated confidence is under the task's confidence_threshold; `unlabeled`: never labeled.
    A rule left out of `rules` is off. An item is sent out at most `max_rounds_per_item` times.
    """

    rules: list[SelectionRule] = Field(default_factory=lambda: list(get_args(SelectionRule)), min_length=1)
    max_rounds_per_item: int = Field(default=3, ge=1)

    @field_validator("rules")
    @classmethod
    def _distinct(cls, rules: list[str]) -> list[str]:
        if len(set(rules)) != len(rules):
            raise ValueError("each rule may appear once")
        return rules


class LabelQuality(_Model):
    """The ML label check: cleanlab's find_label_issues on out-of-fold predicted probabilities of a
    TF-IDF + logistic regression model over the items' text. It judges the labels of each round; the
    model also learns from the newest other labels, up to `max_items` in all."""

    find_label_issues: bool = True
    folds: int = Field(default=5, ge=2)
    min_items: int = Field(default=30, ge=2)  # fewer consolidated labels than this: the check is skipped
    max_items: int = Field(default=50_000, ge=2)
    seed: int = 0


class GroundTruthConfig(_Model):
    """SageMaker Ground Truth, for AWS accounts that already use it (closed to new customers).

    Items go to S3 as an input manifest (JSON lines with `source`), with a label category file and a
    worker template, under s3://<bucket>/<prefix>/<task>/<job>/; the job writes its output under
    .../<task>/output/<job>/. Credentials and region come from the Airflow AWS connection `conn_id`.
    """

    type: Literal["ground_truth"] = "ground_truth"
    conn_id: str = "aws_default"
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
    prefix: str = Field(default="labeling", description="key prefix of every object a round writes")
    role_arn: str = Field(pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/\S+$",
                          description="IAM role Ground Truth assumes to read the input and write the output")
    workteam_arn: str = Field(pattern=r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:\d{12}:workteam/\S+$",
                              description="private, vendor or public work team that labels the items")
    task_title: str | None = Field(default=None, max_length=128, description="default: from the task's name")
    task_description: str | None = Field(default=None, max_length=255, description="default: the instructions")
    task_keywords: list[str] = Field(default_factory=lambda: ["text", "classification"], min_length=1)
    task_time_limit_seconds: int = Field(default=300, ge=30, le=28_800)
    task_availability_lifetime_seconds: int = Field(default=864_000, ge=60, le=31_536_000)
    max_concurrent_task_count: int | None = Field(default=None, ge=1, le=5000)
    # Stopping conditions: the job stops after this many human-labeled objects / this share of the input.
    max_human_labeled_object_count: int | None = Field(default=None, ge=1)
    max_percentage_of_input_dataset_labeled: int | None = Field(default=None, ge=1, le=100)
    # Default: Ground Truth's built-in text classification functions of the connection's region.
    pre_human_task_lambda_arn: str | None = None
    annotation_consolidation_lambda_arn: str | None = None
    # Default: the task's name with dashes (Ground Truth allows letters, digits and dashes).
    label_attribute_name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
    tags: dict[str, str] = Field(default_factory=dict)
    poll_interval_seconds: float = Field(default=60, ge=1, le=86_400)
    max_wait_hours: float = Field(default=240, gt=0, le=MAX_DAYS * 24)


class LabelStudioConfig(_Model):
    """A self-hosted Label Studio server: one project per round, each item annotated by
    `workers_per_item` annotators. URL and API token come from the Airflow connection `conn_id`."""

    type: Literal["label_studio"] = "label_studio"
    conn_id: str = "label_studio_default"
    poll_interval_seconds: float = Field(default=60, ge=1, le=86_400)
    max_wait_hours: float = Field(default=168, gt=0, le=MAX_DAYS * 24)


# The labeling backends and the label_task block that configures each one.
LABELING_BACKENDS = {"simulated": "simulation", "ground_truth": "ground_truth", "label_studio": "label_studio"}


class LabelTask(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    source: str
    item_key: str
    text_field: str
    classes: list[str] = Field(min_length=2)
    instructions: str = ""
    workers_per_item: int = Field(default=3, ge=1)
    budget_per_run: int = Field(default=1000, ge=1)
    confidence_threshold: float = Field(default=0.7, ge=0, le=1)
    # Items under this consolidated confidence are sent back for another round (selection.rules).
    consolidation: Literal["majority_vote", "dawid_skene"] = "majority_vote"
    dawid_skene: DawidSkeneOptions = Field(default_factory=DawidSkeneOptions)
    selection: Selection = Field(default_factory=Selection)
    quality: LabelQuality = Field(default_factory=LabelQuality)
    # Who labels: a simulated workforce (demo), SageMaker Ground Truth or a Label Studio server; the
    # block of the same name (`simulation` for the simulated one) configures it.
    backend: Literal["simulated", "ground_truth", "label_studio"] = "simulated"
    simulation: SimulatedWorkforceConfig | None = None
    ground_truth: GroundTruthConfig | None = None
    label_studio: LabelStudioConfig | None = None

    @model_validator(mode="after")
    def _simulated_needs_config(self) -> LabelTask:
        block = LABELING_BACKENDS[self.backend]
        if getattr(self, block) is None:
            raise ValueError(f"backend {self.backend!r} needs a {block!r} block")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be distinct")
        return self

    @model_validator(mode="after")
    def _confusion_matrices_fit_classes(self) -> LabelTask:
        k = len(self.classes)
        for worker, matrix in (self.simulation.confusion if self.simulation else {}).items():
            where = f"simulation.confusion.{worker}"
            if len(matrix) != k or any(len(row) != k for row in matrix):
                raise ValueError(f"{where}: must be {k} x {k}, one row and one column per class {self.classes}")
            for i, row in enumerate(matrix):
                if any(p < 0 for p in row) or abs(sum(row) - 1) > 1e-6:
                    raise ValueError(f"{where}: row {i} ({self.classes[i]}) must be probabilities summing to 1")
        return self


class Entity(_Model):
    join_key: str
    description: str = ""


class FeatureView(_Model):
    """Features read from one source's validated rows, keyed by an entity, timed by `timestamp`."""

    source: str
    entity: str
    timestamp: str
    features: list[str] = Field(min_length=1)
    ttl_days: float = Field(default=365, gt=0, le=MAX_DAYS)
    description: str = ""


class Materialization(_Model):
    """How the online store is kept fresh from the offline tables."""

    # Each run's window reaches back this far before its data interval, for rows that arrived late.
    overlap_hours: float = Field(default=24, ge=0, le=MAX_DAYS * 24)
    # Offline rows read, deduplicated and written per step: memory stays bounded however many rows a
    # window holds.
    chunk_rows: int = Field(default=100_000, ge=1)
    # Entities whose online values the freshness check compares with the offline table after each run.
    freshness_sample: int = Field(default=200, ge=0)


class Features(_Model):
    project: str = Field(pattern=NAME_PATTERN)
    # Where training sets are computed: Feast's file offline store (pandas/dask) or DuckDB.
    offline_store: Literal["file", "duckdb"] = "file"
    materialization: Materialization = Field(default_factory=Materialization)
    entities: dict[str, Entity]
    feature_views: dict[str, FeatureView]

    @model_validator(mode="after")
    def _views_name_entities(self) -> Features:
        for name, view in self.feature_views.items():
            if view.entity not in self.entities:
                raise ValueError(f"feature view {name!r}: unknown entity {view.entity!r}")
        return self


class Manifest(_Model):
    version: Literal[1] = 1
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    sources: dict[str, Source] = Field(min_length=1)
    relationships: list[Relationship] = Field(default_factory=list)
    label_task: LabelTask | None = None
    features: Features | None = None

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, Any]) -> dict[str, Any]:
        for name in sources:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"source name {name!r} must match {NAME_PATTERN}")
        return sources

    @model_validator(mode="after")
    def _cross_references(self) -> Manifest:
        def column_of(ref: str, where: str) -> None:
            source, column = ref.split(".")
            if source not in self.sources:
                raise ValueError(f"{where}: unknown source {source!r}")
            if column not in self.sources[source].columns:
                raise ValueError(f"{where}: source {source!r} has no column {column!r}")

        for i, rel in enumerate(self.relationships):
            column_of(rel.from_, f"relationships[{i}].from")
            column_of(rel.to, f"relationships[{i}].to")
        if self.label_task is not None:
            task = self.label_task
            column_of(f"{task.source}.{task.item_key}", "label_task.item_key")
            column_of(f"{task.source}.{task.text_field}", "label_task.text_field")
        if self.features is not None:
            for name, view in self.features.feature_views.items():
                where = f"features.feature_views.{name}"
                join_key = self.features.entities[view.entity].join_key
                for column in [join_key, view.timestamp, *view.features]:
                    column_of(f"{view.source}.{column}", where)
        return self


class LoadedManifest(BaseModel):
    """A manifest with where it came from: its path and the sha256 of its text."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    sha256: str
    spec: Manifest

    @property
    def name(self) -> str:
        return self.spec.name
