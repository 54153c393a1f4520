#!/usr/bin/env bash
# The production stack of docker-compose.yaml as plain processes on this machine: api-server,
# scheduler, dag-processor, triggerer and two Celery workers on PostgreSQL and Redis, with the
# settings of scripts/stack.env (the file the compose stack reads too).
#
#   scripts/stack.sh start     create the database, migrate it, put the sample data in place, start
#   scripts/stack.sh stop      stop every process that `start` started (by the pids it wrote)
#   scripts/stack.sh status    which of them are running
#   scripts/stack.sh env       print the stack's environment (`source <(scripts/stack.sh env)`)
#
# The two workers stand for two machines: each has its own local folder (DATACENTRIC_VAR) and its own
# hostname, and they share only DATACENTRIC_SHARED (repository, feature repository, DVC remote, Data
# Docs, landing zone), the Feast registry in PostgreSQL and the online store in Redis.
#
# Everything can be moved by the environment (defaults in brackets):
#   STACK_HOME                 folder of the stack's files              [<project>/var/stack]
#   STACK_POSTGRES             PostgreSQL server, no database           [postgresql://postgres@127.0.0.1:5432]
#   STACK_DB                   its database (created if missing)        [datacentric_stack]
#   STACK_REDIS                Redis server, no db number               [redis://127.0.0.1:6379]
#   STACK_BROKER_DB / STACK_ONLINE_DB   Redis db of the Celery broker / of the online store   [0 / 1]
#   STACK_ONLINE_REDIS         Redis server of the online store, if not the broker's   [$STACK_REDIS]
#   STACK_API_PORT             the api-server (UI, REST API, Execution API)   [8080]
#   STACK_WORKER_LOG_PORT, STACK_TRIGGERER_LOG_PORT, STACK_SCHEDULER_HEALTH_PORT  [8793, 8794, 8974]
#   STACK_WORKERS              number of Celery workers                 [2]
#   STACK_SHARED               the shared storage (DATACENTRIC_SHARED)  [$STACK_HOME/shared]
# Settings of scripts/stack.env can be overridden from the environment as well.
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$PROJECT/.venv/bin"
STACK_HOME="${STACK_HOME:-$PROJECT/var/stack}"
STACK_POSTGRES="${STACK_POSTGRES:-postgresql://postgres@127.0.0.1:5432}"
STACK_DB="${STACK_DB:-datacentric_stack}"
STACK_REDIS="${STACK_REDIS:-redis://127.0.0.1:6379}"
STACK_BROKER_DB="${STACK_BROKER_DB:-0}"
STACK_ONLINE_DB="${STACK_ONLINE_DB:-1}"
STACK_ONLINE_REDIS="${STACK_ONLINE_REDIS:-$STACK_REDIS}"
STACK_API_PORT="${STACK_API_PORT:-8080}"
STACK_WORKER_LOG_PORT="${STACK_WORKER_LOG_PORT:-8793}"
STACK_TRIGGERER_LOG_PORT="${STACK_TRIGGERER_LOG_PORT:-8794}"
STACK_SCHEDULER_HEALTH_PORT="${STACK_SCHEDULER_HEALTH_PORT:-8974}"
STACK_WORKERS="${STACK_WORKERS:-2}"
STACK_SHARED="${STACK_SHARED:-$STACK_HOME/shared}"
PIDS="$STACK_HOME/pids"
LOGS="$STACK_HOME/logs"

# stack.env first, without overriding what the caller set.
load_settings() {
  local line key
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    key="${line%%=*}"
    [ -n "${!key+x}" ] || export "$line"
  done < "$PROJECT/scripts/stack.env"
}

# Secrets that every component must share; made once per stack home, never printed.
load_secrets() {
  local file="$STACK_HOME/secrets.env"
  if [ ! -f "$file" ]; then
    mkdir -p "$STACK_HOME"
    (umask 077; "$BIN/python" - "$file" <<'EOF'
import secrets, sys
with open(sys.argv[1], "w") as out:
    out.write(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_urlsafe(48)}\n")
    out.write(f"AIRFLOW__API__SECRET_KEY={secrets.token_urlsafe(32)}\n")
EOF
    )
  fi
  local line key
  while IFS= read -r line; do
    key="${line%%=*}"
    [ -n "${!key+x}" ] || export "$line"
  done < "$file"
}

stack_environment() {
  load_settings
  load_secrets
  local pg="${STACK_POSTGRES#postgresql://}"
  pg="${pg#postgresql+psycopg://}"
  export AIRFLOW_HOME="$STACK_HOME/airflow"
  export AIRFLOW__CORE__DAGS_FOLDER="$PROJECT/dags"
  export AIRFLOW__CORE__PLUGINS_FOLDER="$PROJECT/plugins"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg://$pg/$STACK_DB"
  export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg://$pg/$STACK_DB"
  export AIRFLOW__CELERY__BROKER_URL="$STACK_REDIS/$STACK_BROKER_DB"
  export AIRFLOW__API__PORT="$STACK_API_PORT"
  export AIRFLOW__API__BASE_URL="http://localhost:$STACK_API_PORT"
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$STACK_API_PORT/execution/"
  export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$LOGS/airflow"
  export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$STACK_WORKER_LOG_PORT"
  export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$STACK_TRIGGERER_LOG_PORT"
  export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT="$STACK_SCHEDULER_HEALTH_PORT"
  local lineage="{\"type\": \"file\", \"log_file_path\": \"$STACK_SHARED/lineage/openlineage.jsonl\", \"append\": true}"
  export AIRFLOW__OPENLINEAGE__TRANSPORT="${AIRFLOW__OPENLINEAGE__TRANSPORT:-$lineage}"
  export DATACENTRIC_SHARED="$STACK_SHARED"
  export DATACENTRIC_VAR="$STACK_HOME/var"
  export DATACENTRIC_ONLINE_STORE="$STACK_ONLINE_REDIS/$STACK_ONLINE_DB"
  export DATACENTRIC_FEAST_REGISTRY="postgresql+psycopg://$pg/$STACK_DB"
  export PYTHONPATH="$PROJECT/include:$PROJECT/plugins:$PROJECT/scripts${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="$BIN:$PATH"
}

create_database() {
  "$BIN/python" - "$STACK_POSTGRES" "$STACK_DB" <<'EOF'
import sys
import psycopg
from psycopg import sql

server, name = sys.argv[1:3]
server = server.replace("postgresql+psycopg://", "postgresql://", 1)
with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
EOF
}

# start NAME command...: in its own session (so `stop` ends it with its children), output to its log.
launch() {
  local name="$1"; shift
  if running "$name"; then
    echo "  $name already running (pid $(cat "$PIDS/$name.pid"))"
    return
  fi
  setsid "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
  echo "  $name: pid $!, log $LOGS/$name.log"
}

running() {
  local pid
  [ -f "$PIDS/$1.pid" ] && pid="$(cat "$PIDS/$1.pid")" && kill -0 "$pid" 2>/dev/null
}

components() {
  echo api-server scheduler dag-processor triggerer
  for n in $(seq 1 "$STACK_WORKERS"); do echo "worker-$n"; done
}

start() {
  stack_environment
  mkdir -p "$PIDS" "$LOGS/airflow" "$AIRFLOW_HOME" "$DATACENTRIC_VAR" "$STACK_SHARED/lineage"
  echo "database $STACK_DB on $STACK_POSTGRES"
  create_database
  airflow db migrate > "$LOGS/db-migrate.log" 2>&1 || { tail -30 "$LOGS/db-migrate.log"; exit 1; }
  if [ ! -e "$STACK_SHARED/landing/catalog.db" ]; then
    echo "sample data into $STACK_SHARED/landing"
    python -m datacentric samples --landing "$STACK_SHARED/landing"
  fi
  python "$PROJECT/scripts/ui_login.py" "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
  launch api-server airflow api-server --port "$STACK_API_PORT"
  launch scheduler airflow scheduler
  launch dag-processor airflow dag-processor
  launch triggerer airflow triggerer
  for n in $(seq 1 "$STACK_WORKERS"); do
    local serve=()
    # One log server per machine; here the workers share the log folder, so one serves them all.
    [ "$n" -gt 1 ] && serve=(--skip-serve-logs)
    mkdir -p "$STACK_HOME/workers/worker-$n"
    launch "worker-$n" env DATACENTRIC_VAR="$STACK_HOME/workers/worker-$n" STACK_HOSTNAME="worker-$n" \
      AIRFLOW__CORE__HOSTNAME_CALLABLE=stack_hostname.hostname \
      airflow celery worker --celery-hostname "worker-$n@%h" "${serve[@]}"
  done
  wait_until_up
}

wait_until_up() {
  local url="http://127.0.0.1:$STACK_API_PORT/api/v2/monitor/health"
  for _ in $(seq 1 180); do
    if curl -fsS "$url" > /dev/null 2>&1; then
      echo "stack up: http://localhost:$STACK_API_PORT (stop it with: make stack-stop)"
      return
    fi
    for name in $(components); do
      running "$name" || { echo "$name exited; its log:" >&2; tail -40 "$LOGS/$name.log" >&2; exit 1; }
    done
    sleep 1
  done
  echo "the api-server did not answer on $url within 180 s; logs in $LOGS" >&2
  exit 1
}

stop() {
  local name pid
  for name in $(components); do
    running "$name" || { rm -f "$PIDS/$name.pid"; continue; }
    pid="$(cat "$PIDS/$name.pid")"
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 30); do
    local left=0
    for name in $(components); do running "$name" && left=1; done
    [ "$left" = 0 ] && break
    sleep 1
  done
  for name in $(components); do
    if running "$name"; then
      pid="$(cat "$PIDS/$name.pid")"
      echo "  $name did not stop in 30 s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PIDS/$name.pid"
  done
  echo "stack stopped"
}

status() {
  local name
  for name in $(components); do
    if running "$name"; then echo "$name: running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) stack_environment; env | grep -E '^(AIRFLOW|DATACENTRIC_|GIT_PYTHON|PYTHONPATH=|PATH=)' | grep -v -E 'SECRET|JWT' \
         | sed -e "s/'/'\\\\''/g" -e "s/=/='/" -e "s/\$/'/" -e 's/^/export /' ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
