"""The data repository: zones of files with provenance, an append-only change log and recovery."""

from datacentric.repository.store import CHANGELOG, ZONES, ChangeRecord, DataRepository, Published

__all__ = ["CHANGELOG", "ZONES", "ChangeRecord", "DataRepository", "Published"]
