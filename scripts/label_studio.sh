#!/usr/bin/env bash
# A self-hosted Label Studio server for labeling rounds, in its own virtual environment (its Django
# stack must not share a venv with Airflow).
#
#   scripts/label_studio.sh install   create the venv and install the pinned label-studio (once)
#   scripts/label_studio.sh start     install if needed, start on 127.0.0.1, wait until healthy
#   scripts/label_studio.sh run       the same in the foreground (Ctrl-C stops it)
#   scripts/label_studio.sh stop      stop the server started by `start`
#   scripts/label_studio.sh status    print whether it answers
#
# Settings (environment, with defaults):
#   LABEL_STUDIO_VENV        $PROJECT/var/label-studio-venv
#   LABEL_STUDIO_DATA_DIR    $DATACENTRIC_VAR/label-studio (database, uploads, log, pid)
#   LABEL_STUDIO_PORT        8081 (8080 is Airflow's UI)
#   LABEL_STUDIO_USERNAME    admin e-mail of the first user, created on first start
#   LABEL_STUDIO_PASSWORD    its password (no default: set it)
#   LABEL_STUDIO_USER_TOKEN  its API token (no default: set it); the Airflow connection's password
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="1.23.2"
VAR="${DATACENTRIC_VAR:-$PROJECT/var}"
VENV="${LABEL_STUDIO_VENV:-$PROJECT/var/label-studio-venv}"
DATA_DIR="${LABEL_STUDIO_DATA_DIR:-$VAR/label-studio}"
PORT="${LABEL_STUDIO_PORT:-8081}"
HOST="127.0.0.1"
URL="http://$HOST:$PORT"
PYTHON="${PYTHON:-python3}"
START_TIMEOUT="${LABEL_STUDIO_START_TIMEOUT:-300}"  # seconds; the first start migrates a new database

installed() {
  [ -x "$VENV/bin/label-studio" ] && [ -f "$VENV/.installed-$VERSION" ]
}

install() {
  if installed; then
    return 0
  fi
  echo "installing label-studio==$VERSION into $VENV (a few minutes the first time)"
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # uv (installed in the project's venv by the Makefile) is much faster than pip; pip otherwise.
  if [ -x "$PROJECT/.venv/bin/uv" ]; then
    "$PROJECT/.venv/bin/uv" pip install --quiet --python "$VENV/bin/python" "label-studio==$VERSION"
  else
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "label-studio==$VERSION"
  fi
  touch "$VENV/.installed-$VERSION"
}

healthy() {
  "$VENV/bin/python" - "$URL/health" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

server_env() {
  : "${LABEL_STUDIO_USERNAME:?set LABEL_STUDIO_USERNAME (admin e-mail) to start Label Studio}"
  : "${LABEL_STUDIO_PASSWORD:?set LABEL_STUDIO_PASSWORD to start Label Studio}"
  : "${LABEL_STUDIO_USER_TOKEN:?set LABEL_STUDIO_USER_TOKEN (the admin API token) to start Label Studio}"
  mkdir -p "$DATA_DIR"
  export LABEL_STUDIO_BASE_DATA_DIR="$DATA_DIR"
  export LABEL_STUDIO_USERNAME LABEL_STUDIO_PASSWORD LABEL_STUDIO_USER_TOKEN
  # Token auth for API clients ("Authorization: Token ..."), the scheme the project's hook uses.
  export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="${LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN:-true}"
  export LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="${LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK:-true}"
  export COLLECT_ANALYTICS="${COLLECT_ANALYTICS:-false}"
  export DJANGO_DB="${DJANGO_DB:-sqlite}"
}

# The admin account is read from LABEL_STUDIO_USERNAME/PASSWORD/USER_TOKEN in the environment, so the
# password and token never appear on a command line (ps shows command lines to every user).
START_ARGS=(start --host "$HOST" --port "$PORT" --no-browser --data-dir "$DATA_DIR")

start() {
  install
  if healthy; then
    echo "Label Studio already answers at $URL"
    return 0
  fi
  server_env
  nohup "$VENV/bin/label-studio" "${START_ARGS[@]}" > "$DATA_DIR/server.log" 2>&1 &
  echo $! > "$DATA_DIR/server.pid"
  for _ in $(seq 1 "$START_TIMEOUT"); do
    if healthy; then
      echo "Label Studio answers at $URL (pid $(cat "$DATA_DIR/server.pid"), log $DATA_DIR/server.log)"
      return 0
    fi
    if ! kill -0 "$(cat "$DATA_DIR/server.pid")" 2>/dev/null; then
      tail -40 "$DATA_DIR/server.log" >&2
      echo "Label Studio exited during start; full log: $DATA_DIR/server.log" >&2
      return 1
    fi
    sleep 1
  done
  tail -40 "$DATA_DIR/server.log" >&2
  echo "Label Studio did not answer at $URL/health within $START_TIMEOUT s; log: $DATA_DIR/server.log" >&2
  return 1
}

stop() {
  local pidfile="$DATA_DIR/server.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")"
    for _ in $(seq 1 30); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 1; done
    echo "Label Studio stopped"
  else
    echo "no Label Studio started from $DATA_DIR is running"
  fi
  rm -f "$pidfile"
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  run) install; server_env; exec "$VENV/bin/label-studio" "${START_ARGS[@]}" ;;
  stop) stop ;;
  status) if healthy; then echo "Label Studio answers at $URL"; else echo "Label Studio is not answering at $URL"; exit 1; fi ;;
  *) echo "usage: $0 [install|start|run|stop|status]" >&2; exit 2 ;;
esac
