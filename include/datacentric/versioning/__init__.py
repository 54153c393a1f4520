"""Versioning: DVC snapshots with git tags, data state ids, restore, retention and lineage."""

from datacentric.versioning.versioner import Snapshot, Versioner, data_state_id

__all__ = ["Snapshot", "Versioner", "data_state_id"]
