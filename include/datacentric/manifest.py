"""The manifest: one YAML file that lists every source, how sources tie together, the label task
and the feature definitions. Ingestion, validation, labeling and features are all driven by it.

`load_manifest(path)` parses and validates the file; every error names the file, the line and the
field path, and says what was expected.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from datacentric.errors import ManifestError

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ColumnType = Literal["int", "float", "str", "bool", "timestamp", "date"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Model):
    """One column of a source's schema and the rules its values keep."""

    type: ColumnType
    nullable: bool = True
    unique: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = None
    pattern: str | None = None
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class FileLocation(_Model):
    """Files in a folder under the landing root: `path` is relative to it."""

    path: str
    pattern: str = "*"
    format: Literal["csv", "jsonl", "parquet"]


class SqlLocation(_Model):
    """A table (or a query) in a SQL database reached by a SQLAlchemy URL or an Airflow connection."""

    url: str | None = None
    conn_id: str | None = None
    table: str | None = None
    query: str | None = None

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
    pattern: str = "*"
    format: Literal["csv", "jsonl", "parquet"]
    conn_id: str = "aws_default"


class _SourceBase(_Model):
    owner: str
    description: str = ""
    schedule: str = "@daily"
    freshness_hours: float | None = None
    keys: list[str] = Field(min_length=1)
    event_time: str | None = None
    columns: dict[str, Column] = Field(min_length=1)
    # The validation gate fails the source when more than this share of its rows is quarantined.
    max_quarantine_fraction: float = Field(default=0.05, ge=0, le=1)

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


class S3Source(_SourceBase):
    type: Literal["s3"]
    location: S3Location


Source = Annotated[Union[FileSource, SqlSource, S3Source], Field(discriminator="type")]


class Relationship(_Model):
    """`from_` holds keys that must exist in `to`: e.g. reviews.product_id -> products.product_id."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(alias="from", pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    to: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

    def split(self) -> tuple[tuple[str, str], tuple[str, str]]:
        a, b = self.from_.split("."), self.to.split(".")
        return (a[0], a[1]), (b[0], b[1])


class SimulatedWorkforce(_Model):
    """A simulated crowd with known truth: for the demo, tests and benchmarks, never real labels."""

    truth: str  # file under the landing root with columns <item_key>, label
    workers: int = Field(default=7, ge=1)
    accuracy: list[float] = Field(default_factory=lambda: [0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5])
    seed: int = 0


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
    consolidation: Literal["majority_vote"] = "majority_vote"
    backend: Literal["simulated"] = "simulated"
    simulation: SimulatedWorkforce | None = None

    @model_validator(mode="after")
    def _simulated_needs_config(self) -> LabelTask:
        if self.backend == "simulated" and self.simulation is None:
            raise ValueError("backend 'simulated' needs a 'simulation' block")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be distinct")
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
    ttl_days: float = Field(default=365, gt=0)
    description: str = ""


class Features(_Model):
    project: str = Field(pattern=NAME_PATTERN)
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


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each YAML node path to its 1-based line, so errors can point into the file."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _nearest_line(lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def parse_manifest(text: str, path: Path | str = "<manifest>") -> LoadedManifest:
    path = Path(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ManifestError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}:1: expected a mapping with 'name' and 'sources' at the top")
    try:
        spec = Manifest.model_validate(raw)
    except ValidationError as exc:
        lines = _line_index(text)
        problems = []
        for err in exc.errors():
            # Drop the discriminator tag pydantic inserts for tagged unions ("file", "sql", ...).
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("file", "sql", "s3")))
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "type")  # point at the `type:` line itself
            line = _nearest_line(lines, loc)
            field = ".".join(str(p) for p in loc) or "<top>"
            problems.append(f"{path}:{line or '?'}: {field}: {err['msg']}")
        raise ManifestError("invalid manifest:\n  " + "\n  ".join(problems)) from None
    return LoadedManifest(path=path.resolve() if path.exists() else path, sha256=_sha256(text), spec=spec)


def load_manifest(path: str | Path) -> LoadedManifest:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest file not found") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_manifest(text, path)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_json_schema() -> dict[str, Any]:
    """The JSON schema of the manifest, for editor completion (yaml-language-server)."""
    return Manifest.model_json_schema(by_alias=True)
