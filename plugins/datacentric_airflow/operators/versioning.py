"""Snapshots of the data repository (DVC + git tag) at the end of a stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from datacentric_airflow.context import run_info
from datacentric_airflow.hooks.repository import DataRepositoryHook


class SnapshotOperator(BaseOperator):
    """Snapshot the data repository after `stage` and tag it <dag>/<stage>/<interval>.

    Returns the snapshot (data state id, tag, commit) to XCom and adds it to the outlet Asset
    events' extra. An unchanged repository gets no new commit; a retry finds its tag and reuses it.

    :param manifest: path of the manifest YAML (templated)
    :param stage: name of the stage just finished, used in the tag
    """

    template_fields: Sequence[str] = ("manifest", "stage")
    ui_color = "#fff4e0"

    def __init__(self, *, manifest: str, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.stage = stage

    def execute(self, context: Any) -> dict[str, Any]:
        from datacentric.manifest import load_manifest
        from datacentric.settings import PROJECT_ROOT
        from datacentric.versioning import code_revision, tag_name

        info = run_info(context)
        loaded = load_manifest(self.manifest)
        versioner = DataRepositoryHook().get_versioner()
        tag = tag_name(info.dag_id, self.stage, info.interval_key)
        snap = versioner.snapshot(
            tag,
            message=f"{info.dag_id} {self.stage} for {info.interval_key} (run {info.run_id})",
            pins={"manifest_sha256": loaded.sha256, "code_revision": code_revision(PROJECT_ROOT)},
        )
        self.log.info("snapshot %s: tag %s, commit %s%s", snap.data_state_id, snap.tag, snap.commit[:12],
                      "" if snap.changed else " (no change)")
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {"data_state_id": snap.data_state_id, "tag": snap.tag}
        return snap.as_dict()
