"""Snapshots of the data repository (DVC + git tag) at the end of a stage, and restores of past states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.failures import fail_fast_on_bad_input
from datacentric_airflow.hooks.repository import DataRepositoryHook

if TYPE_CHECKING:
    from airflow.sdk import Context


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

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from datacentric.manifest import load_manifest
        from datacentric.versioning.versioner import snapshot_stage

        info = run_info(context)
        hook = DataRepositoryHook()
        snap = snapshot_stage(
            load_manifest(self.manifest),
            self.stage,
            dag_id=info.dag_id,
            interval_key=info.interval_key,
            run={
                "run_id": info.run_id,
                "task_id": self.task_id,
                "interval_start": info.interval_start.isoformat(),
                "interval_end": info.interval_end.isoformat(),
            },
            versioner=hook.get_versioner(self.remote_conn_id),
            repository=hook.get_repository(),
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
    :param dates: what a date in `state` names (templated): "data", the last state whose data interval
        ends at or before it (default), or "snapshot", the last state snapshotted at or before it
    :param remote_conn_id: Airflow AWS connection for an S3 DVC remote; default: the environment
    """

    template_fields: Sequence[str] = ("state", "workspace", "dates")
    ui_color = "#fff4e0"

    def __init__(self, *, state: str, workspace: str = "", dates: str = "data", remote_conn_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.workspace = workspace
        self.dates = dates
        self.remote_conn_id = remote_conn_id

    @fail_fast_on_bad_input
    def execute(self, context: Context) -> dict[str, Any]:
        from pathlib import Path

        versioner = DataRepositoryHook().get_versioner(self.remote_conn_id)
        state = versioner.resolve(self.state, dates=self.dates)
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
