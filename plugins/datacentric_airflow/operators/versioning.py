"""Snapshots of the data repository (DVC + git tag) at the end of a stage, and restores of past states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.hooks.repository import DataRepositoryHook


def dvc_remote_config(aws_conn_id: str | None) -> dict[str, str] | None:
    """Endpoint, region and credentials of an S3 DVC remote from an Airflow AWS connection.

    They are written to the data repository's DVC local config (.dvc/config.local, never committed)
    and are never logged or returned to XCom. None: use the environment (DATACENTRIC_DVC_REMOTE_ENDPOINT,
    AWS_* variables)."""
    if not aws_conn_id:
        return None
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3")
    credentials = hook.get_credentials()
    config = {"access_key_id": credentials.access_key, "secret_access_key": credentials.secret_key}
    if credentials.token:
        config["session_token"] = credentials.token
    if hook.conn_config.endpoint_url:
        config["endpointurl"] = hook.conn_config.endpoint_url
    if hook.conn_region_name:
        config["region"] = hook.conn_region_name
    return config


def _versioner(remote_conn_id: str | None) -> Any:
    from datacentric.versioning.versioner import Versioner

    settings = DataRepositoryHook().settings
    return Versioner(settings.repository, remote=settings.dvc_remote, remote_config=dvc_remote_config(remote_conn_id))


class SnapshotOperator(BaseOperator):
    """Snapshot the data repository after `stage` and tag it <dag>/<stage>/<interval>.

    Returns the snapshot to XCom (data state id, tag, commit, pins, run) and puts the data state id
    into the outlet Asset events' extra. The data state id pins the repository's content, the
    manifest and its state file, the label version, the feature definitions and the code revision.

    Re-running an interval that was snapshotted before (a retry, a re-run, a backfill) compares the
    new content with the tagged state file by file and reports the result in XCom (`reproduction`)
    and the log: "identical" reuses the tag; "different" lists the changed files and tags the new
    state `<tag>+2`, leaving the old tag where it was.

    :param manifest: path of the manifest YAML (templated)
    :param stage: name of the stage just finished, used in the tag (templated)
    :param remote_conn_id: Airflow AWS connection for an S3 DVC remote (endpoint and credentials);
        default: the environment
    """

    template_fields: Sequence[str] = ("manifest", "stage")
    ui_color = "#fff4e0"

    def __init__(self, *, manifest: str, stage: str, remote_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.stage = stage
        self.remote_conn_id = remote_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.manifest.model import load_manifest
        from datacentric.settings import PROJECT_ROOT
        from datacentric.versioning.versioner import code_revision, definitions_sha256, sha256_file, tag_name

        info = run_info(context)
        loaded = load_manifest(self.manifest)
        repository = DataRepositoryHook().get_repository()
        state_file = repository.state_path(loaded.name)
        versioner = _versioner(self.remote_conn_id)
        tag = tag_name(info.dag_id, self.stage, info.interval_key)
        snap = versioner.snapshot(
            tag,
            message=f"{info.dag_id} {self.stage} for {info.interval_key} (run {info.run_id})",
            pins={
                "manifest_sha256": loaded.sha256,
                "manifest_state_sha256": sha256_file(state_file) if state_file.exists() else None,
                "feature_definitions_sha256": definitions_sha256(loaded.spec.features),
                "code_revision": code_revision(PROJECT_ROOT),
            },
            run={
                "dag_id": info.dag_id,
                "run_id": info.run_id,
                "task_id": self.task_id,
                "stage": self.stage,
                "interval_start": info.interval_start.isoformat(),
                "interval_end": info.interval_end.isoformat(),
            },
        )
        self._log_snapshot(snap)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                "data_state_id": snap.data_state_id,
                "tag": snap.tag,
                "commit": snap.commit,
                "reproduction": snap.reproduction.get("status"),
            }
        self.snapshot_ = snap
        return snap.as_dict()

    def _log_snapshot(self, snap: Any) -> None:
        report = snap.reproduction
        status = report.get("status")
        if status == "new":
            self.log.info("snapshot %s: tag %s, commit %s%s", snap.data_state_id, snap.tag, snap.commit[:12],
                          "" if snap.changed else " (no change since the last commit)")
        elif status == "identical":
            self.log.info("interval already snapshotted as %s (%s): all %d recorded files reproduced hash for "
                          "hash%s; %d file(s) added since", snap.tag, snap.data_state_id, report["files_compared"],
                          f"; pins differing: {report['pins_differing']}" if report.get("pins_differing") else "",
                          report.get("added", 0))
        else:
            self.log.warning(
                "interval re-run differs from %s: %d file(s) changed %s, %d removed %s, zones not verifiable %s; "
                "the new state %s is tagged %s", report["tag"], len(report["changed"]), report["changed"][:10],
                len(report["removed"]), report["removed"][:10], report.get("unverifiable_zones"),
                snap.data_state_id, snap.tag,
            )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from datacentric_airflow.lineage import snapshot_lineage

        return snapshot_lineage(getattr(self, "snapshot_", None))


class RestoreStateOperator(BaseOperator):
    """Restore a data state into a workspace folder and verify every file against its recorded hash.

    A retry, or a second run for a workspace that already holds this state, verifies what is there
    instead of restoring again. Returns the state (id, tag, commit, pins), the workspace and the
    number of files verified.

    :param state: data state id, tag, commit, ISO date or "latest" (templated)
    :param workspace: folder to restore into (templated); empty: <DATACENTRIC_VAR>/reproduce/<data state id>
    :param remote_conn_id: Airflow AWS connection for an S3 DVC remote; default: the environment
    """

    template_fields: Sequence[str] = ("state", "workspace")
    ui_color = "#fff4e0"

    def __init__(self, *, state: str, workspace: str = "", remote_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.workspace = workspace
        self.remote_conn_id = remote_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from pathlib import Path

        versioner = _versioner(self.remote_conn_id)
        state = versioner.resolve(self.state)
        workspace = (Path(self.workspace) if str(self.workspace or "").strip()
                     else DataRepositoryHook().settings.var_dir / "reproduce" / state["data_state_id"])
        result = versioner.ensure_restored(state["data_state_id"], workspace)
        self.log.info("data state %s (tag %s, commit %s) %s %s: %d files verified against their hashes",
                      result["data_state_id"], result["tag"], result["commit"][:12],
                      "already in" if result.get("reused") else f"restored from the {result['restored_from']} into",
                      workspace, result["files_verified"])
        self.restored_ = result
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from datacentric_airflow.lineage import restore_lineage

        return restore_lineage(getattr(self, "restored_", None))
