"""The Assets each stage produces: the contract between stages and between DAGs.

Each URI names a zone of the data repository for one manifest, or one of its snapshots. An Asset
event's extra carries the data state id (and tag, commit) of the run that produced it, so a consumer
DAG knows exactly which state it was triggered by.
"""

from __future__ import annotations

from airflow.sdk import Asset


def zone_asset(manifest_name: str, zone: str) -> Asset:
    return Asset(name=f"datacentric.{manifest_name}.{zone}", uri=f"datacentric://{manifest_name}/{zone}")


def snapshot_asset(manifest_name: str, stage: str | None = None) -> Asset:
    """The snapshot of a manifest's data repository; with `stage`, the snapshot taken after that stage
    (without, the final one, which pins everything)."""
    if stage is None:
        return Asset(name=f"datacentric.{manifest_name}.snapshot", uri=f"datacentric://{manifest_name}/snapshot")
    return Asset(name=f"datacentric.{manifest_name}.snapshot.{stage}",
                 uri=f"datacentric://{manifest_name}/snapshot/{stage}")
