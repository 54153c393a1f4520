"""Deployment settings: environment variables with defaults for the embedded setup (one laptop).

Credentials never live here: they come from Airflow connections or the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_MANIFEST = PROJECT_ROOT / "include" / "manifests" / "shop" / "manifest.yaml"


@dataclass(frozen=True)
class Settings:
    """Where the project keeps its data. Every path can be moved by one environment variable."""

    var_dir: Path
    landing_root: Path
    repository: Path
    dvc_remote: str
    feature_repo: Path
    online_store: str
    lineage_file: Path
    gx_root: Path
    dvc_cache_types: str = "reflink,hardlink,copy"
    dvc_remote_endpoint: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("DATACENTRIC_VAR", PROJECT_ROOT / "var"))
        return cls(
            var_dir=var_dir,
            landing_root=Path(os.environ.get("DATACENTRIC_LANDING", var_dir / "landing")),
            repository=Path(os.environ.get("DATACENTRIC_REPOSITORY", var_dir / "repository")),
            dvc_remote=os.environ.get("DATACENTRIC_DVC_REMOTE", str(var_dir / "dvc-remote")),
            feature_repo=Path(os.environ.get("DATACENTRIC_FEATURE_REPO", var_dir / "feature_repo")),
            # "sqlite" (embedded) or a redis connection string "redis://host:port/db".
            online_store=os.environ.get("DATACENTRIC_ONLINE_STORE", "sqlite"),
            lineage_file=Path(os.environ.get("DATACENTRIC_LINEAGE_FILE", var_dir / "lineage" / "events.jsonl")),
            # Great Expectations' working context: suites, per-run results and Data Docs (HTML).
            gx_root=Path(os.environ.get("DATACENTRIC_GX_ROOT", var_dir / "gx")),
            # DVC cache link types, best first (comma-separated): reflink, hardlink, copy.
            dvc_cache_types=os.environ.get("DATACENTRIC_DVC_CACHE_TYPE", "reflink,hardlink,copy"),
            # endpointurl of an S3-compatible DVC remote (MinIO, moto, another cloud).
            dvc_remote_endpoint=os.environ.get("DATACENTRIC_DVC_REMOTE_ENDPOINT") or None,
        )
