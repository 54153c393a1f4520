"""OpenLineage for the datacentric operators: each task's inputs and outputs as datasets, from what
the data repository recorded. Design note: docs/explanation/lineage.md (OpenLineage)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from openlineage.client.facet_v2 import DatasetFacet, OutputDatasetFacet

FILE_NAMESPACE = "file"


def stage_lineage(task_instance: Any, *, stage: str, inputs: list[Any] | None = None,
                  outputs: list[Any] | None = None, **match: Any) -> Any:
    """Lineage of a task that published files of `stage` (matching provenance `match`) to the repository."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from datacentric.versioning.lineage import Lineage

    root = _settings().repository
    produced = produced_by_run(Lineage.of_repository(root).live(stage=stage, **match),
                               getattr(task_instance, "run_id", None))
    datasets_in = _unique([*(inputs or []), *(input_dataset(root, item) for v in produced for item in v.inputs)])
    datasets_out = _unique([*(output_dataset(root, v) for v in produced), *(outputs or [])])
    return OperatorLineage(inputs=datasets_in, outputs=datasets_out, job_facets=code_facets())


def produced_by_run(versions: list[Any], run_id: str | None) -> list[Any]:
    """The versions this run wrote; if it wrote none (a re-run with nothing new), those of the last
    run that wrote any, which are what the task's result stands on."""
    mine = [v for v in versions if run_id and v.run_id == run_id]
    if mine or not versions:
        return mine
    last_run = max(versions, key=lambda v: v.position).run_id
    return [v for v in versions if v.run_id == last_run]


def manifest_lineage(manifest: str) -> Any:
    """The manifest file is the input of the task that reads it."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset

    return OperatorLineage(inputs=[InputDataset(namespace=FILE_NAMESPACE, name=str(Path(manifest).resolve()))],
                           job_facets=code_facets())


def materialize_lineage(task_instance: Any, manifest: str) -> Any:
    """Materialization reads the offline feature tables and writes the online store (one dataset per view)."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from datacentric.manifest import load_manifest
    from datacentric.versioning.lineage import Lineage
    from openlineage.client.event_v2 import OutputDataset

    settings = _settings()
    features = load_manifest(manifest).spec.features
    views = sorted(features.feature_views) if features is not None else []
    tables = Lineage.of_repository(settings.repository).live(stage="features")
    inputs = [input_dataset(settings.repository, _as_input(v)) for v in tables]
    namespace, base = _online_store_location(settings)
    outputs = [OutputDataset(namespace=namespace, name=f"{base}{view}") for view in views]
    return OperatorLineage(inputs=_unique(inputs), outputs=outputs, job_facets=code_facets())


def snapshot_lineage(snapshot: Any) -> Any:
    """A snapshot reads every zone (each at its DVC md5) and writes a data state of the repository."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    if snapshot is None:
        return OperatorLineage()
    root = _settings().repository.resolve()
    inputs = [InputDataset(namespace=FILE_NAMESPACE, name=str(root / zone),
                           facets={"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=md5)})
              for zone, md5 in sorted((snapshot.pins.get("zones") or {}).items())]
    output = OutputDataset(namespace=FILE_NAMESPACE, name=str(root), facets={
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=snapshot.data_state_id)})
    return OperatorLineage(inputs=inputs, outputs=[output], job_facets=code_facets(),
                           run_facets={"dataState": data_state_facet(snapshot.data_state_id, snapshot.tag,
                                                                     snapshot.commit,
                                                                     snapshot.reproduction.get("status"))})


def restore_lineage(result: dict[str, Any] | None) -> Any:
    """A restore reads a data state of the repository and writes it into a workspace folder."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    if not result:
        return OperatorLineage()
    version: dict[str, DatasetFacet] = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=result["data_state_id"])
    }
    return OperatorLineage(
        inputs=[InputDataset(namespace=FILE_NAMESPACE, name=str(_settings().repository.resolve()), facets=version)],
        outputs=[OutputDataset(namespace=FILE_NAMESPACE, name=str(Path(result["restored_to"]).resolve()),
                               facets=version)],
        run_facets={"dataState": data_state_facet(result["data_state_id"], result["tag"], result["commit"],
                                                  "restored")},
        job_facets=code_facets(),
    )


# -- datasets ------------------------------------------------------------------------------------


def output_dataset(root: Path, version: Any) -> Any:
    """A repository file as an output dataset: its path, sha256 (version) and row count."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset, output_statistics_output_dataset

    facets: dict[str, DatasetFacet] = {}
    if version.sha256:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version.sha256)
    stats: dict[str, OutputDatasetFacet] = {}
    if version.rows is not None:
        stats["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=version.rows)
    return OutputDataset(namespace=FILE_NAMESPACE, name=str(root.resolve() / version.path), facets=facets,
                         outputFacets=stats)


def input_dataset(root: Path, item: Any) -> Any:
    """An input: a source object by its origin URI, or a repository file; its checksum is the version."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    if item.kind == "source":
        namespace, name = dataset_name(item.ref)
    else:
        namespace, name = FILE_NAMESPACE, str(root.resolve() / item.ref)
    facets: dict[str, DatasetFacet] = {}
    if item.sha256:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=item.sha256)
    return InputDataset(namespace=namespace, name=name, facets=facets)


def dataset_name(uri: str) -> tuple[str, str]:
    """OpenLineage namespace and name of an origin URI, following its naming conventions:
    file:///p -> (file, /p); s3://b/k -> (s3://b, k); postgresql://h:5432/db#t -> (postgresql://h:5432, db.t);
    sqlite:////p.db#t -> (sqlite, /p.db.t).
    Credentials in a URI never reach the namespace."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return FILE_NAMESPACE, parts.path
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    namespace = f"{parts.scheme}://{host}" if host else parts.scheme  # sqlite:////db has no host
    if parts.scheme == "s3":
        return namespace, parts.path.lstrip("/")
    path = parts.path.lstrip("/") if host else "/" + parts.path.lstrip("/")
    name = f"{path}.{parts.fragment}" if parts.fragment and path else (path or parts.fragment)
    if parts.query and parts.scheme.startswith("http"):
        name = f"{name}?{parts.query}"
    return namespace, name


def _as_input(version: Any) -> Any:
    from datacentric.versioning.lineage import Input

    return Input("artifact", version.path, version.sha256, position=version.position)


def _online_store_location(settings: Any) -> tuple[str, str]:
    store = settings.online_store
    if store.startswith("redis"):
        parts = urlsplit(store)
        return f"redis://{parts.hostname}:{parts.port or 6379}", "feast."
    return "sqlite", f"{Path(settings.feature_repo).resolve()}/online_store.db#"


def _unique(datasets: list[Any]) -> list[Any]:
    seen: set[tuple[str, str]] = set()
    out = []
    for dataset in datasets:
        key = (dataset.namespace, dataset.name)
        if key not in seen:
            seen.add(key)
            out.append(dataset)
    return out


# -- facets --------------------------------------------------------------------------------------


@functools.cache
def code_facets() -> dict[str, Any]:
    """The project's code revision as a sourceCodeLocation job facet (computed once per process)."""
    from datacentric.settings import PROJECT_ROOT
    from datacentric.versioning.state_id import code_revision
    from openlineage.client.facet_v2 import source_code_location_job

    return {"sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
        type="git", url=PROJECT_ROOT.as_uri(), version=code_revision(PROJECT_ROOT))}


def data_state_facet(data_state_id: str, tag: str, commit: str, status: str | None) -> Any:
    """A run facet naming the data state a task wrote or read."""
    return _data_state_facet_class()(dataStateId=data_state_id, tag=tag, commit=commit, status=status or "")


@functools.cache
def _data_state_facet_class() -> type:
    from attrs import define
    from openlineage.client.facet_v2 import RunFacet

    @define
    class DataStateRunFacet(RunFacet):
        """The data state (DVC snapshot) a run wrote or read: id, git tag and commit, and for a
        snapshot of an interval snapshotted before, whether its content was reproduced."""

        dataStateId: str  # noqa: N815 - OpenLineage facets use camelCase
        tag: str
        commit: str
        status: str

    return DataStateRunFacet


def _settings() -> Any:
    from datacentric.settings import Settings

    return Settings.from_env()


def relationships_lineage(task_instance: Any, manifest: str) -> Any:
    """The relationship check reads the validated files of both sides of each relationship."""
    from datacentric.manifest import load_manifest
    from datacentric.versioning.lineage import Lineage

    root = _settings().repository
    graph = Lineage.of_repository(root)
    sources = sorted({ref.split(".", 1)[0] for rel in load_manifest(manifest).spec.relationships
                      for ref in (rel.from_, rel.to)})
    inputs = [input_dataset(root, _as_input(v)) for source in sources
              for v in graph.live(stage="validate", source=source) if v.path.startswith("validated/")]
    return stage_lineage(task_instance, stage="relationships", inputs=inputs)


def labeling_lineage(task_instance: Any, manifest: str) -> Any:
    """A labeling round reads the validated items' source and writes the items sent out and their votes."""
    from datacentric.manifest import load_manifest

    task = load_manifest(manifest).spec.label_task
    match: dict[str, Any] = {"task": task.name} if task is not None else {}
    return stage_lineage(task_instance, stage="label", **match)


def paths_lineage(inputs: list[Any], outputs: list[Any]) -> Any:
    """Lineage of a task that reads and writes whole folders or files by path (recover, diff, catalog)."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    return OperatorLineage(
        inputs=[InputDataset(namespace=FILE_NAMESPACE, name=str(Path(p).resolve())) for p in inputs],
        outputs=[OutputDataset(namespace=FILE_NAMESPACE, name=str(Path(p).resolve())) for p in outputs],
        job_facets=code_facets(),
    )


def repository_root() -> Path:
    """The data repository's folder (from the deployment settings)."""
    return _settings().repository


def freshness_lineage(manifest: str) -> Any:
    """The freshness check reads the online store and the offline feature tables it compares."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    materialized = materialize_lineage(None, manifest)
    inputs = [*(_as_input_dataset(d) for d in materialized.outputs), *materialized.inputs]
    return OperatorLineage(inputs=inputs, job_facets=code_facets())


def _as_input_dataset(dataset: Any) -> Any:
    from openlineage.client.event_v2 import InputDataset

    return InputDataset(namespace=dataset.namespace, name=dataset.name, facets=dataset.facets)
