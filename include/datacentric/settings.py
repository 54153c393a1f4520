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
    gx_root: Path
    dvc_cache_types: str = "reflink,hardlink,copy"
    dvc_remote_endpoint: str | None = None
    shared_dir: Path | None = None
    feast_registry: str | None = None
    online_store_conn_id: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(os.environ.get("DATACENTRIC_VAR", PROJECT_ROOT / "var"))
        # Storage that every worker sees at the same path (a shared volume, several machines): what one
        # task hands to the next lives there. Without it, everything lives in the local var_dir.
        shared = os.environ.get("DATACENTRIC_SHARED") or None
        shared_dir = Path(shared) if shared else None
        handoff = shared_dir or var_dir
        return cls(
            var_dir=var_dir,
            landing_root=Path(os.environ.get("DATACENTRIC_LANDING", handoff / "landing")),
            repository=Path(os.environ.get("DATACENTRIC_REPOSITORY", handoff / "repository")),
            dvc_remote=os.environ.get("DATACENTRIC_DVC_REMOTE", str(handoff / "dvc-remote")),
            feature_repo=Path(os.environ.get("DATACENTRIC_FEATURE_REPO", handoff / "feature_repo")),
            # "sqlite" (embedded) or a redis connection string "redis://host:port/db".
            online_store=os.environ.get("DATACENTRIC_ONLINE_STORE", "sqlite"),
            # An Airflow connection to a Redis online store; it takes precedence over online_store.
            online_store_conn_id=os.environ.get("DATACENTRIC_ONLINE_STORE_CONN_ID") or None,
            # Great Expectations' working context: suites, per-run results and Data Docs (HTML).
            gx_root=Path(os.environ.get("DATACENTRIC_GX_ROOT", handoff / "gx")),
            # DVC cache link types, best first (comma-separated): reflink, hardlink, copy.
            dvc_cache_types=os.environ.get("DATACENTRIC_DVC_CACHE_TYPE", "reflink,hardlink,copy"),
            # endpointurl of an S3-compatible DVC remote (MinIO, moto, another cloud).
            dvc_remote_endpoint=os.environ.get("DATACENTRIC_DVC_REMOTE_ENDPOINT") or None,
            shared_dir=shared_dir,
            # Feast's registry in a database (SQLAlchemy URL, e.g. postgresql+psycopg://host/db), shared by
            # every worker; None: a file in the feature repository. feature_store.yaml names the variable,
            # never its value, so credentials in the URL stay in the environment.
            feast_registry=os.environ.get("DATACENTRIC_FEAST_REGISTRY") or None,
        )
