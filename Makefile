# Every target installs what it needs: a fresh machine with python3 is enough.
#   make demo   the full pipeline on the bundled sample data (SQLite, LocalExecutor, local folders)
#   make test   the test suite
#   make ui     airflow standalone with the project's DAGs, at http://localhost:8080
#   make docs   the documentation site (MkDocs, --strict) in var/site
#   make label-studio  a local Label Studio server in its own venv, at http://127.0.0.1:8081

SHELL := /bin/bash
PROJECT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3
VENV := $(PROJECT)/.venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

# Deployment settings of the embedded setup; each can be overridden from the environment.
export DATACENTRIC_VAR ?= $(PROJECT)/var
export AIRFLOW_HOME ?= $(DATACENTRIC_VAR)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(PROJECT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(PROJECT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__EXECUTOR ?= LocalExecutor
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS ?= admin:admin
export AIRFLOW__OPENLINEAGE__TRANSPORT ?= {"type": "file", "log_file_path": "$(DATACENTRIC_VAR)/lineage/openlineage.jsonl", "append": true}
# The embedded SQLite default under load (docs/how-to/production.md#the-embedded-default): writers wait
# up to 30 s for SQLite's lock, transactions that start with a savepoint take it first (the plugin's
# connect arguments); at most 4 tasks at once; a task started before the API server is up (right after
# `make ui`) keeps asking for it for about two minutes.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS ?= datacentric_airflow.plugin.METADATA_DB_CONNECT_ARGS
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC ?= datacentric_airflow.plugin.METADATA_DB_CONNECT_ARGS
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG ?= 4
export AIRFLOW__WORKERS__EXECUTION_API_RETRIES ?= 10
export AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX ?= 30
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT ?= 60
export PYTHONPATH := $(PROJECT)/include:$(PROJECT)/plugins:$(PYTHONPATH)
export GIT_PYTHON_REFRESH := quiet
# `airflow standalone` starts its components as `airflow ...` subprocesses: the venv comes first.
export PATH := $(BIN):$(PATH)
AIRFLOW_PORT ?= 8080
export AIRFLOW__API__PORT := $(AIRFLOW_PORT)
export AIRFLOW__API__BASE_URL := http://localhost:$(AIRFLOW_PORT)

DEMO_DATE ?= 2026-10-31

.PHONY: demo test ui install install-dev lock lint docs clean label-studio label-studio-stop stack stack-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs the pinned lock in a fraction of pip's time; it comes from PyPI like everything else.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python -r requirements.txt
	# include/ and plugins/ on the venv's path, so `airflow`, `python` and pytest all import them.
	$(BIN)/python -c "import site, sys; open(site.getsitepackages()[0] + '/datacentric-project.pth', 'w').write('$(PROJECT)/include\n$(PROJECT)/plugins\n')"
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/uv pip install --python $(BIN)/python -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(AIRFLOW_HOME)/airflow.db: | $(VENV)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -30 $(AIRFLOW_HOME)/db-migrate.log; exit 1)

demo: $(VENV)/.installed $(AIRFLOW_HOME)/airflow.db
	mkdir -p $(DATACENTRIC_VAR)/lineage
	$(BIN)/python -m datacentric samples
	$(BIN)/airflow dags reserialize > /dev/null 2>&1 || true
	$(BIN)/airflow dags test datacentric_pipeline $(DEMO_DATE) > $(DATACENTRIC_VAR)/demo-run.log 2>&1 \
		|| (grep -E "ERROR|Error|error:" $(DATACENTRIC_VAR)/demo-run.log | tail -40; \
		    echo "pipeline failed; full log: $(DATACENTRIC_VAR)/demo-run.log"; exit 1)
	@grep -E "Marking run .* (successful|failed)|DagRun Finished" $(DATACENTRIC_VAR)/demo-run.log | tail -1 || true
	@echo "Pipeline log: $(DATACENTRIC_VAR)/demo-run.log"
	@$(BIN)/python -m datacentric summary

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

ui: $(VENV)/.installed $(AIRFLOW_HOME)/airflow.db
	@mkdir -p $(DATACENTRIC_VAR)/lineage
	@[ -d $(DATACENTRIC_VAR)/landing ] || $(BIN)/python -m datacentric samples
	@$(BIN)/python scripts/ui_login.py "$(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated"
	$(BIN)/airflow standalone

# Label Studio in a venv cached outside the clone (scripts/label_studio.sh); set LABEL_STUDIO_USERNAME,
# LABEL_STUDIO_PASSWORD and LABEL_STUDIO_USER_TOKEN first (README: Labeling backends).
label-studio: $(VENV)/.installed
	bash scripts/label_studio.sh start

label-studio-stop:
	bash scripts/label_studio.sh stop

# The production stack (docker-compose.yaml's services as processes on this machine, scripts/stack.sh):
# PostgreSQL and Redis must be running. The embedded setup's settings exported above stay out of it.
STACK_ENV := env -u AIRFLOW_HOME -u DATACENTRIC_VAR -u AIRFLOW__CORE__EXECUTOR -u AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION \
	-u AIRFLOW__OPENLINEAGE__TRANSPORT -u AIRFLOW__API__PORT -u AIRFLOW__API__BASE_URL \
	-u AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS -u AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC \
	-u AIRFLOW__CORE__PARALLELISM -u AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG \
	-u AIRFLOW__WORKERS__EXECUTION_API_RETRIES -u AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX \
	-u AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT
stack: $(VENV)/.installed
	$(STACK_ENV) bash scripts/stack.sh start

stack-stop:
	$(STACK_ENV) bash scripts/stack.sh stop

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --python-version 3.11 --no-header requirements.in -o requirements.txt
	$(BIN)/uv pip compile --python-version 3.11 --no-header requirements-dev.in -o requirements-dev.txt

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check include plugins dags tests bench
	$(BIN)/mypy include plugins dags

# The documentation site: the reference pages generated from the code (manifest schema, CLI parser,
# operator docstrings, DAGs) and the quoted examples refreshed, then MkDocs with --strict (a broken
# link or anchor fails) into $(DATACENTRIC_VAR)/site.
docs: $(VENV)/.installed-dev
	$(BIN)/python scripts/docs_reference.py
	$(BIN)/mkdocs build --strict --config-file $(PROJECT)/mkdocs.yml --site-dir $(DATACENTRIC_VAR)/site

clean:
	rm -rf $(DATACENTRIC_VAR)
