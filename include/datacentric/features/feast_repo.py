"""The generated Feast repository: `feature_store.yaml` and `definitions.py` rendered from the
manifest, registered with `apply`; the `feast` command line works on it as is.

Feast is imported lazily (importing it takes seconds); its warnings, prints and progress bars are
captured and logged at DEBUG level.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import re
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from datacentric.atomic import write_atomic
from datacentric.errors import FeatureStoreError
from datacentric.features.tables import (
    FEATURES_ZONE,
    TABLE_NAME,
    check_view_columns,
    export_feature_tables,
    features_of,
)
from datacentric.manifest.model import Features, LoadedManifest, Manifest
from datacentric.repository.store import DataRepository

log = logging.getLogger(__name__)

DEFINITIONS = "definitions.py"
FEATURE_STORE_YAML = "feature_store.yaml"
REGISTRY_PATH = "data/registry.db"  # relative to the feature repo: the folder stays movable
SQLITE_PATH = "data/online.db"
REGISTRY_VARIABLE = "DATACENTRIC_FEAST_REGISTRY"
# Feast expands ${...} when it reads feature_store.yaml: the URL (and any password in it) stays in the
# environment of each process. A short cache keeps every worker close to the latest apply.
SQL_REGISTRY = {"registry_type": "sql", "path": "${" + REGISTRY_VARIABLE + "}", "cache_ttl_seconds": 60,
                "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True}}
OFFLINE_STORES = ("file", "duckdb")


# Feast 0.67 defaults to 3 and deprecates anything lower; written out so the file says what it uses.
ENTITY_KEY_SERIALIZATION_VERSION = 3
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# manifest column type -> (feast.types name, pandas dtype of exported / returned values)
_FEAST_TYPE = {
    "int": "Int64",
    "float": "Float64",
    "str": "String",
    "bool": "Bool",
    "timestamp": "UnixTimestamp",
    "date": "UnixTimestamp",  # Feast has no date type: a date is exported as midnight UTC
}


# manifest join key type -> feast ValueType member
_ENTITY_VALUE_TYPE = {"int": "INT64", "str": "STRING"}


def render_feature_repo(manifest: Manifest, feature_repo: Path, repository_root: Path, online_store: str, *,
                        registry: str | None = None) -> Path:
    """Write `feature_store.yaml` and `definitions.py` for the manifest into `feature_repo`.

    `online_store` is "sqlite" (the file `data/online.db` in the feature repo) or a Redis URL
    `redis://[:${PASSWORD_VAR}@]host[:port][/db]` (`rediss://` for TLS). A password may only be given
    as an environment variable reference, which Feast expands when it reads the file: secrets never
    land in the generated files. Both are served by the project's online stores
    (`datacentric.features.online_stores`), which keep Feast's layout and add a fast write path. The offline
    store is the manifest's `features.offline_store` (file or duckdb). `registry` is a SQLAlchemy URL
    for Feast's SQL registry, shared by every worker (default DATACENTRIC_FEAST_REGISTRY; none: a file
    in the feature repo); feature_store.yaml refers to the variable, never its value. Offline tables
    are named relative to the feature repo, so the generated files and the registry hold no machine's
    absolute paths. Files are written atomically and only when their text changes, so rendering twice
    leaves identical files. Returns the folder.
    """
    from datacentric.settings import Settings

    features = features_of(manifest)
    feature_repo = Path(feature_repo)
    registry = registry if registry is not None else Settings.from_env().feast_registry
    config = feature_store_config(features.project, online_store, features.offline_store, sql_registry=bool(registry))
    yaml_text = (
        f"# Generated from manifest {manifest.name!r} by datacentric.features.feast_repo.render_feature_repo.\n"
        "# Do not edit: it is rewritten on every run. Change the manifest or the settings instead.\n"
        + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    )
    definitions = render_definitions(manifest, DataRepository(repository_root), relative_to=feature_repo)
    (feature_repo / "data").mkdir(parents=True, exist_ok=True)
    _write_text_atomic(feature_repo / FEATURE_STORE_YAML, yaml_text)
    _write_text_atomic(feature_repo / DEFINITIONS, definitions)
    return feature_repo


def feature_store_config(project: str, online_store: str, offline_store: str = "file", *,
                         fast: bool = True, sql_registry: bool = False) -> dict[str, Any]:
    """The content of feature_store.yaml as a mapping (see render_feature_repo)."""
    if offline_store not in OFFLINE_STORES:
        raise FeatureStoreError(f"offline store {offline_store!r}: expected one of {', '.join(OFFLINE_STORES)}")
    return {
        "project": project,
        "provider": "local",
        "registry": SQL_REGISTRY if sql_registry else REGISTRY_PATH,
        "online_store": online_store_config(online_store, fast=fast),
        "offline_store": {"type": offline_store},
        "entity_key_serialization_version": ENTITY_KEY_SERIALIZATION_VERSION,
    }


def online_store_config(online_store: str, *, fast: bool = True) -> dict[str, Any]:
    """Feast's online_store block for "sqlite" or a redis:// (rediss://) URL.

    `fast` selects the project's stores (Feast's layout, a columnar newest-wins write path); without it
    Feast's stock stores, which read the same data.
    """
    from datacentric.features.online_stores import REDIS_STORE, SQLITE_STORE

    value = online_store.strip()
    if value == "sqlite":
        return {"type": SQLITE_STORE if fast else "sqlite", "path": SQLITE_PATH}
    if value.startswith(("redis://", "rediss://")):
        return {"type": REDIS_STORE if fast else "redis", "connection_string": redis_connection_string(value)}
    raise FeatureStoreError(
        f"online store {_redact(online_store)!r}: expected 'sqlite' or a Redis URL 'redis://host:port/db'"
    )


def redis_connection_string(url: str) -> str:
    """redis://[user:pass@]host[:port][/db][?k=v] -> Feast's "host:port,db=N[,ssl=true][,k=v]"."""
    where = f"online store {_redact(url)!r}"
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError as exc:
        raise FeatureStoreError(f"{where}: not a valid Redis URL ({exc})") from exc
    if not parts.hostname:
        raise FeatureStoreError(f"{where}: the URL names no host; expected redis://host:port/db")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise FeatureStoreError(f"{where}: database {db!r} must be a number, as in redis://host:6379/0")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    items = [f"{host}:{port}", f"db={int(db)}"]
    for label, secret in (("username", parts.username), ("password", parts.password)):
        if not secret:
            continue
        if label == "password" and not _ENV_REFERENCE.match(secret):
            raise FeatureStoreError(
                f"{where}: a literal password would be written to feature_store.yaml; put it in an "
                "environment variable and write it as a reference, e.g. redis://:${REDIS_PASSWORD}@host:6379/0 "
                "(Feast expands it when it reads the file)"
            )
        items.append(f"{label}={secret}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ("db", "ssl", "username", "password") or not _IDENTIFIER.match(key) or "," in value:
            raise FeatureStoreError(f"{where}: unsupported query parameter {key!r}")
        items.append(f"{key}={value}")
    return ",".join(items)


def render_definitions(manifest: Manifest, repo: DataRepository, *, relative_to: Path | None = None) -> str:
    """The text of definitions.py: Entities, FileSources, FeatureViews and one FeatureService.

    With `relative_to` (the feature repo) the offline tables' paths are relative to it, which is how
    Feast resolves a relative FileSource path; without it they are absolute."""
    features = features_of(manifest)
    for name in [features.project, *features.entities, *features.feature_views]:
        if not _IDENTIFIER.match(name):
            raise FeatureStoreError(f"features: name {name!r} must be letters, digits and underscores")
    lines = [
        f'"""Feast definitions generated from manifest {manifest.name!r} (project {features.project!r}).',
        "",
        "Do not edit: datacentric.features.feast_repo.render_feature_repo rewrites this file on every run.",
        "Change the manifest's `features` block instead.",
        '"""',
        "",
        "from datetime import timedelta",
        "",
        "from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType",
        "from feast.types import " + ", ".join(_types_used(manifest, features)),
        "",
        "# Entities",
    ]
    for name, entity in features.entities.items():
        users = [v for v in features.feature_views.values() if v.entity == name]
        kinds = {manifest.sources[v.source].columns[entity.join_key].type for v in users}
        if len(kinds) > 1:
            raise FeatureStoreError(
                f"features.entities.{name}: join key {entity.join_key!r} has different types in the sources "
                f"of its feature views ({', '.join(sorted(kinds))})"
            )
        kind = kinds.pop() if kinds else "str"
        if kind not in _ENTITY_VALUE_TYPE:
            raise FeatureStoreError(
                f"features.entities.{name}: join key {entity.join_key!r} is of type {kind}; "
                "entity keys must be int or str"
            )
        lines += [
            f"entity_{name} = Entity(",
            f"    name={name!r},",
            f"    join_keys=[{entity.join_key!r}],",
            f"    value_type=ValueType.{_ENTITY_VALUE_TYPE[kind]},",
            f"    description={entity.description!r},",
            ")",
            "",
        ]
    lines.append("# Offline tables (written by export_feature_tables) and feature views")
    for name, view in features.feature_views.items():
        source = manifest.sources[view.source]
        key = features.entities[view.entity].join_key
        check_view_columns(name, key, view.timestamp, view.features)
        path = repo.path(FEATURES_ZONE, name, TABLE_NAME).resolve()
        if relative_to is not None:
            path = Path(os.path.relpath(path, Path(relative_to).resolve()))
        ttl_seconds = round(view.ttl_days * 86400)
        schema = [f"        Field(name={key!r}, dtype={_FEAST_TYPE[source.columns[key].type]}),"]
        schema += [
            f"        Field(name={feature!r}, dtype={_FEAST_TYPE[source.columns[feature].type]}),"
            for feature in view.features
        ]
        lines += [
            f"source_{name} = FileSource(",
            f"    name={name + '_source'!r},",
            f"    path={str(path)!r},",
            f"    timestamp_field={view.timestamp!r},",
            f"    description={f'validated rows of source {view.source!r}'!r},",
            ")",
            "",
            f"view_{name} = FeatureView(",
            f"    name={name!r},",
            f"    entities=[entity_{view.entity}],",
            f"    ttl=timedelta(seconds={ttl_seconds}),  # {view.ttl_days:g} days",
            "    schema=[",
            *schema,
            "    ],",
            f"    source=source_{name},",
            "    online=True,",
            f"    description={view.description!r},",
            f"    tags={{'source': {view.source!r}, 'manifest': {manifest.name!r}}},",
            ")",
            "",
        ]
    views = ", ".join(f"view_{name}" for name in features.feature_views)
    lines += [
        "# Every feature of the project",
        f"service_{features.project} = FeatureService(",
        f"    name={features.project!r},",
        f"    features=[{views}],",
        f"    description={f'All feature views of manifest {manifest.name!r}.'!r},",
        ")",
        "",
    ]
    return "\n".join(lines)


def _types_used(manifest: Manifest, features: Features) -> list[str]:
    used = set()
    for view in features.feature_views.values():
        columns = manifest.sources[view.source].columns
        for column in [features.entities[view.entity].join_key, *view.features]:
            used.add(_FEAST_TYPE[columns[column].type])
    return sorted(used)


def apply_features(
    loaded: LoadedManifest,
    repository: DataRepository,
    feature_repo: Path,
    online_store: str,
    *,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The features stage: export the manifest's feature tables from the validated zone, render the
    Feast repository and register it. Returns the feature repository, the registered objects and
    the published tables."""
    spec = features_of(loaded.spec)
    tables = export_feature_tables(loaded.spec, repository, run_id=run_id)
    render_feature_repo(loaded.spec, feature_repo, repository.root, online_store)
    names = apply(feature_repo)
    log.info("feature repository %s applied (%d views): %s", feature_repo, len(spec.feature_views), ", ".join(names))
    return {"feature_repo": str(feature_repo), "objects": names,
            "tables": {view: published.path for view, published in tables.items()}}


def apply(feature_repo: Path) -> list[str]:
    """Register the objects of the generated definitions.py, as `feast apply` does.

    Objects that are in the registry but no longer in definitions.py are removed, like `feast apply`.
    Returns the registered objects as "kind:name" ("entity:product", "feature_view:product_catalog",
    "data_source:product_catalog_source", "feature_service:shop"), sorted.
    """
    feature_repo = Path(feature_repo)
    store = open_store(feature_repo)
    contents = _load_definitions(feature_repo, store.config)
    with feast_quiet("apply"):
        from feast.feature_view import DUMMY_ENTITY_NAME
        from feast.repo_operations import apply_total_with_repo_instance

        try:
            apply_total_with_repo_instance(
                store, store.project, store.registry, contents, skip_source_validation=False
            )
        except Exception as exc:  # noqa: BLE001 - Feast raises many unrelated types
            raise FeatureStoreError(f"feast apply of {feature_repo}: {exc}{error_hint(exc)}") from exc
    names = [f"entity:{e.name}" for e in contents.entities if e.name != DUMMY_ENTITY_NAME]
    names += [f"data_source:{s.name}" for s in contents.data_sources]
    names += [f"feature_view:{v.name}" for v in contents.feature_views]
    names += [f"feature_service:{s.name}" for s in contents.feature_services]
    return sorted(names)


def _write_text_atomic(target: Path, text: str) -> None:
    data = text.encode("utf-8")
    if target.exists() and target.read_bytes() == data:
        return
    write_atomic(target, data)


def _redact(url: str) -> str:
    return re.sub(r"//([^@/]*):([^@/]*)@", r"//\1:***@", url)


@contextlib.contextmanager
def feast_quiet(what: str) -> Iterator[None]:
    """Capture Feast's warnings, prints and progress bars; log them at DEBUG level."""
    buffer = io.StringIO()
    # Feast logs routine chatter at INFO ("Registry cache expired, so refreshing" on every lookup);
    # keep it out of task logs unless this module is being debugged.
    feast_logger = logging.getLogger("feast")
    level = feast_logger.level
    if not log.isEnabledFor(logging.DEBUG):
        feast_logger.setLevel(max(logging.WARNING, feast_logger.getEffectiveLevel()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield
        finally:
            feast_logger.setLevel(level)
            text = _ANSI.sub("", buffer.getvalue()).strip()
            if text:
                log.debug("feast %s output:\n%s", what, text)
            for message in {str(w.message) for w in caught}:
                log.debug("feast %s warning: %s", what, message)


def open_store(feature_repo: Path):
    config = feature_repo / FEATURE_STORE_YAML
    if not config.is_file():
        raise FeatureStoreError(f"{config}: no feature_store.yaml; run render_feature_repo first")
    if "${" + REGISTRY_VARIABLE + "}" in config.read_text(encoding="utf-8") and not os.environ.get(REGISTRY_VARIABLE):
        raise FeatureStoreError(
            f"{config}: its registry is the database named by {REGISTRY_VARIABLE}, which is not set in this "
            "process; set it to the same SQLAlchemy URL as on the other workers"
        )
    with feast_quiet("load"):
        from feast import FeatureStore

        try:
            return FeatureStore(repo_path=str(feature_repo.resolve()))
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"{config}: Feast cannot load it: {exc}") from exc


def _load_definitions(feature_repo: Path, config):
    """The objects of definitions.py, collected the way `feast apply` collects them (parse_repo)."""
    from feast import Entity, FeatureService, FeatureView, Project
    from feast.data_source import DataSource
    from feast.feature_view import DUMMY_ENTITY
    from feast.repo_contents import RepoContents

    path = feature_repo / DEFINITIONS
    if not path.is_file():
        raise FeatureStoreError(f"{path}: no definitions; run render_feature_repo first")
    # A fresh, unregistered module each time: a cached `definitions` from an earlier render (or another
    # feature repo in the same process) must never be reused.
    module_name = f"_datacentric_feast_definitions_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with feast_quiet("definitions"):
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001
            raise FeatureStoreError(f"{path}: cannot be loaded: {exc}") from exc
        finally:
            sys.modules.pop(module_name, None)
    contents = RepoContents(
        projects=[Project(name=config.project, description=config.project_description or "")],
        data_sources=[],
        feature_views=[],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        entities=[],
        feature_services=[],
        permissions=[],
    )

    def add(items: list, obj: Any) -> None:
        if not any(obj is other for other in items):
            items.append(obj)

    for attr in sorted(vars(module)):
        obj = getattr(module, attr)
        if isinstance(obj, FeatureView):
            add(contents.feature_views, obj)
            if obj.batch_source is not None:
                add(contents.data_sources, obj.batch_source)
        elif isinstance(obj, DataSource):
            add(contents.data_sources, obj)
        elif isinstance(obj, Entity):
            add(contents.entities, obj)
        elif isinstance(obj, FeatureService):
            add(contents.feature_services, obj)
    contents.entities.append(DUMMY_ENTITY)
    return contents


def registered_view(store, name: str):
    try:
        return store.get_feature_view(name)
    except Exception as exc:  # noqa: BLE001 - FeatureViewNotFoundException and registry errors
        try:
            known = ", ".join(sorted(v.name for v in store.list_feature_views())) or "none"
        except Exception:  # noqa: BLE001
            known = "unknown"
        raise FeatureStoreError(f"feature view {name!r} is not registered (registered: {known}): {exc}") from exc


def error_hint(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "ConnectionError" in type(exc).__name__:
        return " (is the online store server running and reachable?)"
    if "No such file" in text or isinstance(exc, FileNotFoundError):
        return " (run export_feature_tables and render_feature_repo first)"
    return ""
