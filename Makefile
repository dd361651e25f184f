# The two commands of the README: `make demo` and `make test`. Each sets up .venv/ first.
# Bytecode is compiled at install (as pip does in the connector image): with
# PYTHONDONTWRITEBYTECODE set, every process would otherwise compile the CDK again (~1.2 s).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

# OptScale's own code (../shared/optscale) runs in its own environment, on the Python its
# Dockerfiles use (3.12), apart from .venv: integration_tests/test_post_sync_optscale.py.
OPTSCALE_VENV := .optscale-venv
OPTSCALE_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.12.*/bin/python3.12) $(shell command -v python3.12))

.PHONY: demo test lint bench clean optscale-env

$(VENV)/.installed: requirements/lock.txt pyproject.toml tools/dbt-chdb/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e . -e tools/dbt-chdb
	touch $@

$(OPTSCALE_VENV)/.installed: requirements/optscale.lock.txt $(VENV)/.installed
	@test -n "$(OPTSCALE_PYTHON)" || { echo "error: OptScale's tests need Python 3.12; install it or set OPTSCALE_PYTHON=/path/to/python3.12"; exit 2; }
	rm -rf $(OPTSCALE_VENV)
	$(BIN)/uv venv --quiet --python $(OPTSCALE_PYTHON) $(OPTSCALE_VENV)
	$(BIN)/uv pip sync --quiet --python $(OPTSCALE_VENV)/bin/python requirements/optscale.lock.txt
	touch $@

optscale-env: $(OPTSCALE_VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/kubecost-pipeline demo

test: $(VENV)/.installed $(OPTSCALE_VENV)/.installed lint
	$(BIN)/python -m pytest -n 2

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy source_kubecost kubecost_pipeline

bench: $(VENV)/.installed
	$(BIN)/python -m bench

# Re-resolve the pinned dependencies after editing pyproject.toml.
lock: $(VENV)/.installed
	$(BIN)/uv pip compile --quiet pyproject.toml --all-extras --python-version 3.11 -o requirements/lock.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 -o requirements/connector.lock.txt
	$(BIN)/uv pip compile --quiet requirements/optscale.in --python-version 3.12 -o requirements/optscale.lock.txt

clean:
	rm -rf $(VENV) $(OPTSCALE_VENV) .pytest_cache .mypy_cache .ruff_cache
