"""Versioning: DVC snapshots with git tags, data state ids, restore, retention and lineage."""

from datacentric.versioning.state_id import data_state_id, stage_pins, tag_name
from datacentric.versioning.versioner import Snapshot, Versioner, snapshot_stage

__all__ = ["Snapshot", "Versioner", "data_state_id", "snapshot_stage", "stage_pins", "tag_name"]
