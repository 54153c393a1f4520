"""The Assets each stage produces: the contract between stages and between DAGs.

Each URI names a zone of the data repository for one manifest; an Asset event's extra carries the
data state id and counts of the run that produced it.
"""

from __future__ import annotations

from airflow.sdk import Asset


def zone_asset(manifest_name: str, zone: str) -> Asset:
    return Asset(name=f"datacentric.{manifest_name}.{zone}", uri=f"datacentric://{manifest_name}/{zone}")


def snapshot_asset(manifest_name: str) -> Asset:
    return Asset(name=f"datacentric.{manifest_name}.snapshot", uri=f"datacentric://{manifest_name}/snapshot")
