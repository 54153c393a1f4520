"""Static checks of the Docker Compose stack (docker-compose.yaml, Dockerfile, scripts/stack.env).

No Docker engine runs where these tests run, so the stack is validated rather than started:
against the Compose Specification's JSON schema (tests/fixtures/compose-spec.json), against
the shape this project needs (CeleryExecutor, two workers, Postgres, Redis, shared storage), and
against the configuration options that the installed Airflow really has. The same stack runs without
Docker by scripts/stack.sh (make stack); both read their settings from scripts/stack.env.

Compose substitutes ``${VAR:-default}`` before it validates a file; the tests do the same with
the documented defaults only (never the runner's environment), so they check the stack as it
comes out of the box.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
SCHEMA_FILE = REPO_ROOT / "tests" / "fixtures" / "compose-spec.json"
STACK_ENV = REPO_ROOT / "scripts" / "stack.env"
STACK_SCRIPT = REPO_ROOT / "scripts" / "stack.sh"

EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker-1",
    "airflow-worker-2",
}
CELERY_WORKERS = {"airflow-worker-1", "airflow-worker-2"}
AIRFLOW_VERSION = "3.3.2"
VAR_DIR = "/opt/airflow/var"
SHARED_DIR = "/opt/airflow/shared"


# --------------------------------------------------------------------------- loading helpers

# $$ | ${NAME} | ${NAME<op>arg} with op one of :- - :? ? :+ + | $NAME  (Compose interpolation)
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str) -> str:
    """Substitute Compose variables as if none of them were set, i.e. with their defaults."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        op, arg = match["op"], match["arg"]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise ValueError(f"{match[0]} is a required variable with no default")
        return ""  # unset: ${VAR}, $VAR and ${VAR:+alt} are all empty

    return _INTERPOLATION.sub(substitute, value)


def interpolate_tree(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, dict):
        return {key: interpolate_tree(value) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item) for item in node]
    return node


@cache
def _raw_compose() -> dict[str, Any]:
    # safe_load resolves the YAML anchors and `<<` merge keys, as Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture
def raw_compose() -> dict[str, Any]:
    """The compose file as written (variables not substituted)."""
    return _raw_compose()


@pytest.fixture
def compose() -> dict[str, Any]:
    """The compose file with every variable replaced by its documented default."""
    return interpolate_tree(_raw_compose())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


@cache
def stack_env() -> dict[str, str]:
    """scripts/stack.env: KEY=VALUE lines, comments and blank lines skipped."""
    pairs = {}
    for line in STACK_ENV.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip() and "${" not in value and not value.startswith(("'", '"')), line
            pairs[key] = value
    return pairs


def env_files(service: dict[str, Any]) -> list[Path]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, str) else files
    return [(REPO_ROOT / (f if isinstance(f, str) else f["path"])).resolve() for f in files]


def effective_environment(service: dict[str, Any]) -> dict[str, str]:
    """What a container gets: its env_file entries, then `environment` on top (Compose's precedence)."""
    env: dict[str, str] = {}
    for path in env_files(service):
        assert path == STACK_ENV, path
        env.update(stack_env())
    env.update(environment(service))
    return env


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else list(command)


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form: always "service_started"
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("airflow-")}


def service_for_host(compose: dict[str, Any], url: str) -> tuple[str, dict[str, Any]]:
    host = urlsplit(url).hostname
    assert host is not None and host in compose["services"], f"{url!r}: host {host!r} is not a service of the stack"
    return host, compose["services"][host]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    result = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        result.append((instruction.upper(), args.strip()))
    return result


def copy_instructions() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, its --flags dropped."""
    copies = []
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY":
            words = [word for word in shlex.split(args) if not word.startswith("--")]
            copies.append((words[:-1], words[-1]))
    return copies


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction != "ENV":
            continue
        if "=" in args.split()[0]:
            env.update(word.partition("=")[::2] for word in shlex.split(args))
        else:  # legacy "ENV KEY value" form
            key, _, value = args.partition(" ")
            env[key] = value.strip()
    return env


# --------------------------------------------------------------------------- Compose schema


def test_schema_fixture_is_the_draft7_compose_spec():
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema.get("title") == "Compose Specification"
    assert "draft-07" in schema.get("$schema", ""), schema.get("$schema")
    jsonschema.Draft7Validator.check_schema(schema)


def test_compose_file_conforms_to_compose_spec(compose):
    schema = json.loads(SCHEMA_FILE.read_text())
    # The schema declares "https://json-schema.org/draft-07/schema", which jsonschema's
    # validator_for() does not recognise (it knows the http://...# spelling) and would
    # silently validate with the latest draft instead: pick draft 7 explicitly.
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.absolute_path))
    if errors:
        pytest.fail(
            "docker-compose.yaml does not conform to the Compose Specification:\n"
            + "\n".join(f"  {'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors)
        )


# --------------------------------------------------------------------------- stack shape


def test_expected_services_exist(compose):
    missing = EXPECTED_SERVICES - compose["services"].keys()
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_executor_is_celery(compose):
    assert stack_env()["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name, service in airflow_services(compose).items():
        assert effective_environment(service).get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name


def test_settings_come_from_the_stack_env_file_only(raw_compose):
    """One source of truth: every Airflow service reads scripts/stack.env and redefines none of it."""
    for name, service in airflow_services(raw_compose).items():
        assert env_files(service) == [STACK_ENV], name
        redefined = set(environment(service)) & set(stack_env())
        assert not redefined, f"{name} redefines {sorted(redefined)} of scripts/stack.env"


def test_stack_script_exports_the_same_settings(tmp_path):
    """scripts/stack.sh (`make stack`) exports every setting of scripts/stack.env unchanged."""
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "STACK_HOME": str(tmp_path / "stack")}
    out = subprocess.run(["bash", str(STACK_SCRIPT), "env"], env=clean, capture_output=True, text=True, check=True)
    exported = dict(shlex.split(line)[1].split("=", 1) for line in out.stdout.splitlines())
    missing = {key: value for key, value in stack_env().items() if exported.get(key) != value}
    assert not missing, f"scripts/stack.sh does not export {missing}"
    assert exported["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert exported["DATACENTRIC_SHARED"] == str(tmp_path / "stack" / "shared")
    assert "SECRET" not in out.stdout


def test_a_lost_worker_is_noticed_within_a_minute():
    assert int(stack_env()["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) <= 60


def test_exactly_two_celery_workers(compose):
    workers = {
        name for name, service in compose["services"].items() if command_words(service)[:2] == ["celery", "worker"]
    }
    assert workers == CELERY_WORKERS


def test_metadata_db_and_result_backend_are_the_postgres_service(compose):
    env = environment(compose["x-airflow-common"])
    sql_conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert urlsplit(sql_conn).scheme.startswith("postgresql"), sql_conn
    _, db = service_for_host(compose, sql_conn)
    assert db["image"].startswith("postgres:16"), db["image"]

    backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert urlsplit(backend).scheme.startswith("db+postgresql"), backend
    assert urlsplit(backend).hostname == urlsplit(sql_conn).hostname
    # Credentials and database of the result backend are those the postgres service creates.
    db_env = environment(db)
    for url in (sql_conn, backend):
        parts = urlsplit(url)
        assert (parts.username, parts.password, parts.path.lstrip("/")) == (
            db_env["POSTGRES_USER"],
            db_env["POSTGRES_PASSWORD"],
            db_env["POSTGRES_DB"],
        ), url


def test_celery_broker_is_the_redis_service(compose):
    broker = environment(compose["x-airflow-common"])["AIRFLOW__CELERY__BROKER_URL"]
    assert urlsplit(broker).scheme == "redis", broker
    _, redis = service_for_host(compose, broker)
    assert redis["image"].startswith("redis:7.2"), redis["image"]


def test_online_store_is_redis_in_its_own_database(compose):
    env = environment(compose["x-airflow-common"])
    store, broker = env["DATACENTRIC_ONLINE_STORE"], env["AIRFLOW__CELERY__BROKER_URL"]
    assert urlsplit(store).scheme == "redis", store
    service_for_host(compose, store)
    # Sharing the Celery broker's Redis DB would mix feature keys with Celery's queues.
    assert urlsplit(store).path != urlsplit(broker).path, (store, broker)


def test_airflow_services_build_from_the_dockerfile(compose):
    for name, service in airflow_services(compose).items():
        build = service.get("build")
        assert build is not None, f"{name} has no build"
        if isinstance(build, str):
            build = {"context": build}
        dockerfile = REPO_ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        assert dockerfile.resolve() == DOCKERFILE, f"{name} builds {dockerfile}"
    assert DOCKERFILE.is_file()


def test_airflow_services_get_the_common_environment(raw_compose):
    common = environment(raw_compose["x-airflow-common"])
    assert common
    for name, service in airflow_services(raw_compose).items():
        env = environment(service)
        differing = {key for key, value in common.items() if env.get(key) != value}
        assert not differing, f"{name} lacks or overrides common variables {sorted(differing)}"


def test_project_settings_point_into_the_container(compose):
    env = environment(compose["x-airflow-common"])
    assert env["DATACENTRIC_VAR"] == VAR_DIR
    assert env["DATACENTRIC_SHARED"] == SHARED_DIR


def test_feast_registry_is_the_postgres_service(compose):
    env = environment(compose["x-airflow-common"])
    registry = env["DATACENTRIC_FEAST_REGISTRY"]
    assert urlsplit(registry).scheme == "postgresql+psycopg", registry
    assert service_for_host(compose, registry)[0] == "postgres"


def test_depends_on_names_existing_services(compose):
    services = compose["services"]
    for name, service in services.items():
        unknown = set(depends_on(service)) - services.keys()
        assert not unknown, f"{name} depends on unknown services {sorted(unknown)}"
        assert name not in depends_on(service), f"{name} depends on itself"


def test_healthy_dependencies_have_healthchecks(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, spec in depends_on(service).items():
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency} to be healthy"


def test_init_waits_for_the_databases_and_everything_else_waits_for_init(compose):
    services = compose["services"]
    init_deps = depends_on(services["airflow-init"])
    for dependency in ("postgres", "redis"):
        assert init_deps.get(dependency, {}).get("condition") == "service_healthy", dependency
    for name in airflow_services(compose).keys() - {"airflow-init"}:
        condition = depends_on(services[name]).get("airflow-init", {}).get("condition")
        assert condition == "service_completed_successfully", name


def test_apiserver_publishes_8080(compose):
    apiserver = compose["services"]["airflow-apiserver"]
    assert command_words(apiserver) == ["api-server"]
    published = set()
    for port in apiserver.get("ports", []):
        if isinstance(port, dict):
            if port.get("published"):
                published.add(int(port["target"]))
        else:  # [[IP:]HOST:]CONTAINER[/PROTOCOL]
            parts = str(port).split("/")[0].split(":")
            if len(parts) > 1:
                published.add(int(parts[-1]))
    assert 8080 in published, apiserver.get("ports")
    assert "/api/v2/version" in " ".join(apiserver["healthcheck"]["test"])


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    mounts = {}
    for mount in service.get("volumes", []):
        if isinstance(mount, str):
            source, target = mount.split(":")[:2]
        else:
            source, target = mount.get("source"), mount["target"]
        mounts[target] = source
    return mounts


def test_every_service_shares_the_named_shared_volume_and_keeps_its_var_folder(compose):
    """The hand-offs go through the shared volume; DATACENTRIC_VAR stays local to each container."""
    shared = {name: _mounts(service).get(SHARED_DIR) for name, service in airflow_services(compose).items()}
    sources = set(shared.values())
    assert len(sources) == 1 and None not in sources, shared
    (source,) = sources
    assert source in (compose.get("volumes") or {}), f"{source!r} is not a named volume"
    for name in CELERY_WORKERS:
        assert VAR_DIR not in _mounts(compose["services"][name]), f"{name} shares its local folder"


def test_workers_have_distinct_hostnames(compose):
    names = [compose["services"][name].get("hostname") for name in sorted(CELERY_WORKERS)]
    assert None not in names and len(set(names)) == len(names), names


def test_init_puts_the_sample_data_in_place(compose):
    script = " ".join(command_words(compose["services"]["airflow-init"]))
    assert f"python -m datacentric samples --landing {SHARED_DIR}/landing" in script


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")


def test_no_credentials_are_hard_coded(raw_compose):
    """Secrets must come from the environment: ${VAR:-local default}, never a literal."""

    def mask(value: str) -> str:
        # Each variable becomes a token without ':' so that urlsplit can find the password.
        return _INTERPOLATION.sub(lambda match: f"__variable{match.start()}__", value)

    def is_variable(text: str) -> bool:
        return re.fullmatch(r"__variable\d+__", text) is not None

    services = dict(raw_compose["services"], **{"x-airflow-common": raw_compose["x-airflow-common"]})
    for name, service in services.items():
        for key, value in environment(service).items():
            masked = mask(value)
            if _SECRET_NAME.search(key):
                assert is_variable(masked), f"{name}: {key} is hard-coded: {value!r}"
            password = urlsplit(masked).password if "://" in masked else None
            if password:  # an empty one ("redis://:@redis") means no authentication
                assert is_variable(password), f"{name}: {key} has a hard-coded password: {value!r}"


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_on_the_official_airflow_image():
    import airflow

    froms = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert len(froms) == 1, froms
    match = re.fullmatch(r"apache/airflow:(?P<version>[\d.]+)-python(?P<python>\d+\.\d+)", froms[0])
    assert match, f"FROM {froms[0]}: expected apache/airflow:<version>-python<X.Y>"
    assert match["version"] == AIRFLOW_VERSION == airflow.__version__
    # requirements.txt is locked for this interpreter; the image must run the same minor.
    assert match["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_dockerfile_installs_requirements_as_the_airflow_user():
    destination = next((dest for sources, dest in copy_instructions() if sources == ["requirements.txt"]), None)
    assert destination, "requirements.txt is not copied into the image"
    if destination.endswith("/"):
        destination += "requirements.txt"
    user = "root"
    for instruction, args in dockerfile_instructions():
        if instruction == "USER":
            user = args
        elif instruction == "RUN" and "pip install" in args:
            words = shlex.split(args)
            if "-r" in words and words[words.index("-r") + 1] == destination:
                assert user == "airflow", f"pip install runs as {user}"
                assert "--no-cache-dir" in words
                return
    pytest.fail(f"no `RUN pip install ... -r {destination}`")


def test_dockerfile_ships_include_on_the_pythonpath(compose):
    assert (["include/"], "/opt/airflow/include/") in copy_instructions()
    assert "/opt/airflow/include" in dockerfile_env()["PYTHONPATH"].split(":")
    # The compose bind mount puts the working copy at the same place.
    assert "./include:/opt/airflow/include" in compose["x-airflow-common"]["volumes"]


def test_dockerfile_copy_sources_exist():
    for sources, _ in copy_instructions():
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY source {source} is missing from the repository"


def test_requirements_pin_the_image_airflow_version():
    requirements = REPO_ROOT / "requirements.txt"
    assert requirements.exists(), "requirements.txt is missing"
    pins = re.findall(r"(?im)^apache-airflow==([^\s;\\]+)", requirements.read_text())
    assert pins == [AIRFLOW_VERSION], pins


# --------------------------------------------------------------------------- Airflow options


def _airflow_env_vars() -> list[str]:
    names: set[str] = set()
    raw = _raw_compose()
    for service in [raw.get("x-airflow-common", {}), *raw["services"].values()]:
        names.update(key for key in environment(service) if key.startswith("AIRFLOW__"))
    names.update(key for key in stack_env() if key.startswith("AIRFLOW__"))
    # scripts/stack.sh sets the address-dependent ones itself.
    names.update(re.findall(r"export (AIRFLOW__[A-Z0-9_]+)=", STACK_SCRIPT.read_text()))
    names.update(re.findall(r"\b(AIRFLOW__[A-Z0-9_]+)=", STACK_SCRIPT.read_text()))
    return sorted(names)


@cache
def _declared_options() -> dict[str, set[str]]:
    """Options declared by the installed Airflow: core config.yml plus installed providers,
    keyed by section name as it appears in an environment variable."""
    from airflow.configuration import retrieve_configuration_description

    description = retrieve_configuration_description(include_airflow=True, include_providers=True)
    return {section.replace(".", "_").lower(): set(body.get("options", {})) for section, body in description.items()}


@cache
def _provider_fallback_options() -> dict[str, set[str]]:
    """Defaults Airflow keeps for sections of providers that may not be installed ([celery]...)."""
    import airflow.config_templates

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(airflow.config_templates.__file__).parent / "provider_config_fallback_defaults.cfg")
    return {section.lower(): set(parser.options(section)) for section in parser.sections()}


@pytest.mark.parametrize("variable", _airflow_env_vars())
def test_airflow_env_var_names_a_real_option(variable):
    """AIRFLOW__SECTION__KEY must name an option of the installed Airflow, or it is ignored.

    The option list comes from Airflow's configuration description rather than
    ``conf.has_option``: the latter also answers True for any AIRFLOW__X__Y that happens to be
    set in the environment running the tests, so it cannot catch a misspelt name.
    """
    section, separator, key = variable.removeprefix("AIRFLOW__").lower().partition("__")
    assert separator and section and key, f"{variable} is not AIRFLOW__SECTION__KEY"
    declared = _declared_options()
    fallback = _provider_fallback_options()

    options = declared.get(section, set()) | fallback.get(section, set())
    # AIRFLOW__X__Y_CMD / _SECRET read the value of option y from a command / secrets backend.
    base_key = re.sub(r"_(cmd|secret)$", "", key)
    if key in options or base_key in options:
        return

    if section not in declared and section in fallback:
        # e.g. [celery] result_backend while apache-airflow-providers-celery is not installed:
        # the option cannot be confirmed here, but neither can it be shown to be wrong.
        pytest.xfail(f"[{section}] {key}: [{section}] belongs to a provider that is not installed here")
    from airflow.configuration import conf

    renamed = [
        f"[{new_section}] {new_key}"
        for (new_section, new_key), (old_section, old_key, _) in conf.deprecated_options.items()
        if (old_section, old_key) == (section, key)
    ]
    hint = f"; it was renamed to {renamed[0]}" if renamed else ""
    if section not in declared:
        pytest.fail(f"{variable}: Airflow {AIRFLOW_VERSION} has no section [{section}]{hint}")
    pytest.fail(f"{variable}: Airflow {AIRFLOW_VERSION} has no option [{section}] {key}{hint}")
