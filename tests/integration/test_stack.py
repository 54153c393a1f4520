"""The production stack, started for real by scripts/stack.sh (what `make stack` runs): api-server,
scheduler, dag-processor, triggerer and two Celery workers on PostgreSQL and Redis.

The two workers stand for two machines: each has its own local folder (DATACENTRIC_VAR) and hostname;
they share only DATACENTRIC_SHARED, Feast's SQL registry in PostgreSQL and the online store in Redis.
The online store has a Redis server of its own (started here, as production often keeps the broker
and the online store apart), so that holding its writes never holds the broker's.

1. A run triggered through REST API v2 succeeds, with tasks on both workers; Feast's own client reads
   from Redis the values the offline table holds; the generated Feast files name no absolute path.
2. The run's materialize task is cleared and runs again; while it runs (in its first write to the
   online store when it writes within seconds of starting: every write is held by CLIENT PAUSE from
   before the task starts) its worker is SIGKILLed with
   everything it started. The scheduler notices the lost task within the stack's heartbeat timeout,
   the retry finishes on the other worker, and the repository is sound (git fsck, dvc status, every
   file against its recorded hash) and holds exactly what the clean run left; Feast reads the same
   online values as after the clean run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.stack import Stack, free_port, postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RUN_ID = "stack_clean"
LOGICAL_DATE = "2026-10-31T00:00:00Z"
WORKERS = ["worker-1", "worker-2"]
VIEW = "product_catalog"


@pytest.fixture(scope="module")
def online_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the online store's own, on a free port, gone with the module."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not on PATH: the stack test starts one for the online store")
    port = free_port()
    folder = tmp_path_factory.mktemp("online-redis")
    server = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
                               "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.exceptions.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start (exit {server.poll()})")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def stack(postgres_url: str, online_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import redis

    redis_server = os.environ.get("DATACENTRIC_TEST_REDIS", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
    try:
        redis.Redis.from_url(redis_server).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {redis_server} (start it; .ci/run does): {exc}")
    stack = Stack(home=tmp_path_factory.mktemp("stack"), postgres=postgres_server(postgres_url), redis=redis_server,
                  online_redis=online_redis)
    try:
        stack.start()
        stack.wait_for_dag()
        stack.wait_for_workers(WORKERS)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def clean_run(stack: Stack) -> dict:
    stack.trigger(RUN_ID, LOGICAL_DATE)
    stack.wait_for_run(RUN_ID)
    tis = stack.task_instances(RUN_ID)
    print("\ntasks per worker of the clean run:")
    for worker in WORKERS:
        print(f"  {worker}: " + ", ".join(f"{t['task_id']}" + (f"[{t['map_index']}]" if t["map_index"] >= 0 else "")
                                        for t in tis if t["hostname"] == worker))
    return {"tis": tis, "repository": repository_files(stack), "tags": git(stack, "tag"),
            "head": git(stack, "rev-parse", "HEAD"), "online": online_values(stack)}


def test_triggered_run_succeeds_on_both_workers(clean_run: dict) -> None:
    tis = clean_run["tis"]
    assert all(t["state"] == "success" for t in tis), [(t["task_id"], t["state"]) for t in tis]
    assert {t["hostname"] for t in tis} == set(WORKERS)


def test_workers_share_only_the_shared_storage(stack: Stack, clean_run: dict) -> None:
    # Each worker's own folder holds no hand-off: the repository and the feature repo are shared.
    for worker in WORKERS:
        local = stack.home / "workers" / worker
        assert local.is_dir()
        assert not [p for p in local.rglob("*") if p.name in ("repository", "feature_repo", "landing")]
    assert (stack.shared / "repository" / ".git").is_dir()
    assert clean_run["repository"], "the shared repository is empty"


def test_feast_reads_the_offline_values_back_from_redis(stack: Stack, clean_run: dict) -> None:
    expected = latest_offline_rows(stack)
    online = clean_run["online"]
    assert len(online) == len(expected) > 0
    for column in ("price", "stock"):
        pd.testing.assert_series_equal(online[column].astype(float), expected[column].astype(float),
                                       check_names=False, check_index=False)
    # Online values really are in the stack's Redis db.
    client = stack.online_client()
    try:
        assert client.dbsize() > 0
    finally:
        client.close()


def test_feast_files_hold_no_machine_path_and_the_registry_is_sql(stack: Stack, clean_run: dict) -> None:
    feature_repo = stack.shared / "feature_repo"
    for name in ("feature_store.yaml", "definitions.py"):
        text = (feature_repo / name).read_text()
        assert str(stack.home) not in text, name
    yaml_text = (feature_repo / "feature_store.yaml").read_text()
    assert "registry_type: sql" in yaml_text and "${DATACENTRIC_FEAST_REGISTRY}" in yaml_text
    assert not (feature_repo / "data" / "registry.db").exists()


def test_a_worker_killed_during_materialize_is_retried_and_the_repository_is_unchanged(
    stack: Stack, clean_run: dict
) -> None:
    admin = stack.online_client()  # the online store's own server: CLIENT PAUSE there holds no broker write
    try:
        # Hold every write to the online store before the task starts, so it stops inside its first write
        # (its reads go through); once it has connected, its worker dies with all its processes.
        admin.client_pause(600_000, all=False)
        try:
            stack.clear(RUN_ID, ["materialize"])
            ti = wait_for_task(stack, "materialize", lambda t: t["state"] == "running" and t["hostname"], 300)
            victim = ti["hostname"]
            me = admin.client_id()
            # Into its first write, which the pause holds; a re-run that finds nothing newer to write
            # may never connect, and is then killed wherever it is, as long as it still runs.
            try:
                wait_until(lambda: any(int(c["id"]) != me and c["db"] == str(stack.online_db)
                                       for c in admin.client_list()), 3, "")
                where = "in its first write to Redis"
                time.sleep(1)
            except AssertionError:
                where = "before any write to Redis"
            now = next(t for t in stack.task_instances(RUN_ID) if t["task_id"] == "materialize")
            assert now["state"] == "running" and now["try_number"] == ti["try_number"], (
                f"materialize try {ti['try_number']} ended ({now['state']}) before the worker could be killed")
            killed = stack.kill_worker(victim)
            killed_at = time.monotonic()
        finally:
            admin.client_unpause()
        retry = wait_for_task(stack, "materialize", lambda t: t["try_number"] > ti["try_number"]
                              and t["state"] in ("queued", "running", "success"), 300)
        noticed = time.monotonic() - killed_at
        stack.wait_for_run(RUN_ID, timeout=900)
    finally:
        admin.close()

    tis = {t["task_id"]: t for t in stack.task_instances(RUN_ID) if t["map_index"] < 0}
    survivor = next(w for w in WORKERS if w != victim)
    print(f"\nkilled {victim} ({len(killed)} processes) while materialize try {ti['try_number']} ran, {where}; "
          f"try {retry['try_number']} was queued {noticed:.0f} s later (heartbeat timeout + retry delay) and "
          f"finished on {tis['materialize']['hostname']}")
    assert len(killed) > 1  # the worker and the task it ran
    assert tis["materialize"]["state"] == "success"
    assert tis["materialize"]["hostname"] == survivor
    assert tis["materialize"]["try_number"] == ti["try_number"] + 1

    root = stack.shared / "repository"
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    status = subprocess.run([str(Path(sys.executable).parent / "dvc"), "status"], cwd=root, capture_output=True,
                            text=True, env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"})
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    from datacentric.versioning.versioner import verify_tree

    assert verify_tree(root) > 0
    assert repository_files(stack) == clean_run["repository"]
    assert git(stack, "tag") == clean_run["tags"]
    assert git(stack, "rev-parse", "HEAD") == clean_run["head"]
    pd.testing.assert_frame_equal(online_values(stack), clean_run["online"])


# -- helpers ---------------------------------------------------------------------------------------


def git(stack: Stack, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=stack.shared / "repository", capture_output=True, text=True,
                          check=True).stdout


def repository_files(stack: Stack) -> dict[str, str]:
    """sha256 of every file of the repository's zones, state and change log (not git's or DVC's own)."""
    root = stack.shared / "repository"
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.startswith((".git/", ".dvc/", ".objects/", ".repository/")):
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def latest_offline_rows(stack: Stack) -> pd.DataFrame:
    table = pd.read_parquet(stack.shared / "repository" / "features" / VIEW / "data.parquet")
    latest = table.sort_values("updated_at", kind="mergesort").drop_duplicates("product_id", keep="last")
    return latest.sort_values("product_id").head(50).reset_index(drop=True)


def online_values(stack: Stack) -> pd.DataFrame:
    """Features of 50 products read through Feast's own client from the stack's Redis."""
    from feast import FeatureStore

    keys = latest_offline_rows(stack)["product_id"].tolist()
    previous = {name: os.environ.get(name) for name in ("DATACENTRIC_FEAST_REGISTRY",)}
    os.environ["DATACENTRIC_FEAST_REGISTRY"] = stack.feast_registry
    try:
        store = FeatureStore(repo_path=str(stack.shared / "feature_repo"))
        rows = store.get_online_features(features=[f"{VIEW}:price", f"{VIEW}:stock"],
                                         entity_rows=[{"product_id": k} for k in keys]).to_df()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return rows.sort_values("product_id").reset_index(drop=True)


def wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(message)


def wait_for_task(stack: Stack, task_id: str, condition, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in stack.task_instances(RUN_ID):
            if ti["task_id"] == task_id and condition(ti):
                return ti
        time.sleep(0.5)
    raise AssertionError(f"{task_id} did not reach the awaited state within {timeout} s\n"
                         f"{stack.failure_report(RUN_ID)}")
