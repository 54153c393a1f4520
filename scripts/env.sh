# Source this file to run `airflow` and `python -m datacentric` by hand with the same settings as
# the Makefile:  source scripts/env.sh
_project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DATACENTRIC_VAR="${DATACENTRIC_VAR:-$_project/var}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$DATACENTRIC_VAR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$_project/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_project/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
# The embedded SQLite default under load (docs/how-to/production.md#the-embedded-default).
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-datacentric_airflow.plugin.METADATA_DB_CONNECT_ARGS}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC:-datacentric_airflow.plugin.METADATA_DB_CONNECT_ARGS}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-4}"
export AIRFLOW__WORKERS__EXECUTION_API_RETRIES="${AIRFLOW__WORKERS__EXECUTION_API_RETRIES:-10}"
export AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX="${AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX:-30}"
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-60}"
export PYTHONPATH="$_project/include:$_project/plugins${PYTHONPATH:+:$PYTHONPATH}"
export GIT_PYTHON_REFRESH=quiet
export PATH="$_project/.venv/bin:$PATH"
unset _project
