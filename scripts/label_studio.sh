#!/usr/bin/env bash
# A self-hosted Label Studio server for labeling rounds, in its own virtual environment (its Django
# stack must not share a venv with Airflow).
#
#   scripts/label_studio.sh install   create the venv and install the pinned label-studio (once per pin)
#   scripts/label_studio.sh start     install if needed, start on 127.0.0.1, wait until healthy
#   scripts/label_studio.sh run       the same in the foreground (Ctrl-C stops it)
#   scripts/label_studio.sh stop      stop the server started by `start`
#   scripts/label_studio.sh status    print whether it answers
#
# Settings (environment, with defaults):
#   LABEL_STUDIO_VENV        ${XDG_CACHE_HOME:-~/.cache}/datacentric/label-studio-<key>, where <key> is a
#                            hash of the pinned requirement and the Python version: outside the clone,
#                            so every clone and CI run with the same pin reuses one venv
#   LABEL_STUDIO_DATA_DIR    $DATACENTRIC_VAR/label-studio (database, uploads, log, pid)
#   LABEL_STUDIO_PORT        8081 (8080 is Airflow's UI)
#   LABEL_STUDIO_USERNAME    admin e-mail of the first user, created on first start
#   LABEL_STUDIO_PASSWORD    its password (no default: set it)
#   LABEL_STUDIO_USER_TOKEN  its API token (no default: set it); the Airflow connection's password
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="1.23.2"
VAR="${DATACENTRIC_VAR:-$PROJECT/var}"
REQUIREMENT="label-studio==$VERSION"
# Every package of the venv pinned (label-studio-requirements.in, compiled by uv): a new release of a
# dependency (sentry-sdk 3 broke 1.23's start) never changes a fresh install.
LOCK="$PROJECT/scripts/label-studio-requirements.txt"
DATA_DIR="${LABEL_STUDIO_DATA_DIR:-$VAR/label-studio}"
PORT="${LABEL_STUDIO_PORT:-8081}"
HOST="127.0.0.1"
URL="http://$HOST:$PORT"
PYTHON="${PYTHON:-python3}"
MARKER=".installed-$VERSION"  # written last into a complete venv

venv_key() {
  local python_version
  python_version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  { printf '%s python%s\n' "$REQUIREMENT" "$python_version"; cat "$LOCK"; } | sha256sum | cut -c1-16
}

VENV="${LABEL_STUDIO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/datacentric/label-studio-$(venv_key)}"
START_TIMEOUT="${LABEL_STUDIO_START_TIMEOUT:-300}"  # seconds; the first start migrates a new database

installed() {
  [ -x "$VENV/bin/python" ] && [ -f "$VENV/$MARKER" ]
}

EMPTY_DATABASE="empty-database/label_studio.sqlite3"

# A fresh SQLite database with every migration of this version applied and nothing else (no user, no
# project), made once with the server's own `version` command, which migrates and exits. `start`
# copies it into a new data directory, so a first start skips the minute of migrations.
empty_database() {
  local venv="$1" folder="$1/empty-database"
  if ! env -u DATABASE_NAME -u LABEL_STUDIO_DATABASE_NAME DJANGO_DB=sqlite COLLECT_ANALYTICS=false \
      LABEL_STUDIO_BASE_DATA_DIR="$folder" "$venv/bin/python" -m label_studio.server version --data-dir "$folder" \
      > "$venv/empty-database.log" 2>&1 || [ ! -s "$venv/$EMPTY_DATABASE" ]; then
    tail -40 "$venv/empty-database.log" >&2
    echo "could not create Label Studio's empty database" >&2
    return 1
  fi
  find "$folder" -mindepth 1 -not -path "$venv/$EMPTY_DATABASE" -delete  # its secret key, media folders
}

use_empty_database() {
  if [ "$DJANGO_DB" = sqlite ] && [ -z "${DATABASE_NAME:-}${LABEL_STUDIO_DATABASE_NAME:-}" ] \
    && [ ! -e "$DATA_DIR/label_studio.sqlite3" ] && [ -s "$VENV/$EMPTY_DATABASE" ]; then
    cp "$VENV/$EMPTY_DATABASE" "$DATA_DIR/label_studio.sqlite3"
  fi
}

BUILD=""
remove_build() { [ -z "$BUILD" ] || rm -rf "$BUILD"; }

# Built in a temporary folder beside its final place, then renamed: a killed install leaves no half
# venv behind, and of two concurrent installs the first rename wins and the other is dropped. The
# server is run as `python -m` (entry-point scripts would point at the temporary folder).
install() {
  if installed; then
    return 0
  fi
  if [ -e "$VENV" ]; then
    echo "$VENV exists but holds no complete $REQUIREMENT install (no $MARKER); remove it" >&2
    return 1
  fi
  echo "installing $REQUIREMENT into $VENV (a few minutes the first time)"
  mkdir -p "$(dirname "$VENV")"
  BUILD="$(mktemp -d "$VENV.build-XXXXXX")"
  chmod 755 "$BUILD"
  trap remove_build EXIT
  # uv (installed in the project's venv by the Makefile) is much faster than pip; pip otherwise.
  if [ -x "$PROJECT/.venv/bin/uv" ]; then
    "$PROJECT/.venv/bin/uv" venv --quiet --python "$PYTHON" "$BUILD"
    "$PROJECT/.venv/bin/uv" pip install --quiet --python "$BUILD/bin/python" -r "$LOCK"
  else
    "$PYTHON" -m venv "$BUILD"
    "$BUILD/bin/python" -m pip install --quiet --disable-pip-version-check -r "$LOCK"
  fi
  "$BUILD/bin/python" -c "import label_studio"
  empty_database "$BUILD"
  touch "$BUILD/$MARKER"
  if mv -T "$BUILD" "$VENV" 2>/dev/null; then
    BUILD=""
  elif ! installed; then
    echo "could not move the new venv to $VENV" >&2
    return 1
  fi
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
  use_empty_database
  nohup "$VENV/bin/python" -m label_studio.server "${START_ARGS[@]}" > "$DATA_DIR/server.log" 2>&1 &
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
  run) install; server_env; use_empty_database; exec "$VENV/bin/python" -m label_studio.server "${START_ARGS[@]}" ;;
  stop) stop ;;
  status) if healthy; then echo "Label Studio answers at $URL"; else echo "Label Studio is not answering at $URL"; exit 1; fi ;;
  *) echo "usage: $0 [install|start|run|stop|status]" >&2; exit 2 ;;
esac
