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
export PATH="$_project/.venv/bin:$PATH"
unset _project
