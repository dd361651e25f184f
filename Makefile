# The two commands of the README: `make demo` and `make test`. Each sets up .venv/ first.
# Bytecode is compiled at install (as pip does in the connector image): with
# PYTHONDONTWRITEBYTECODE set, every process would otherwise compile the CDK again (~1.2 s).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: demo test lint bench clean

$(VENV)/.installed: requirements/lock.txt pyproject.toml tools/dbt-chdb/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e . -e tools/dbt-chdb
	touch $@

demo: $(VENV)/.installed
	$(BIN)/kubecost-pipeline demo

test: $(VENV)/.installed .venv-pyairbyte/.installed lint
	$(BIN)/python -m pytest -n 2

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy source_kubecost kubecost_pipeline

bench: $(VENV)/.installed .venv-peer/.installed
	$(BIN)/python -m bench

# PyAirbyte, which integration_tests/test_connector_pyairbyte.py drives the connector with;
# its own environment, because its pins conflict with ours.
.venv-pyairbyte/.installed: requirements/pyairbyte.lock.txt $(VENV)/.installed
	$(PYTHON) -m venv .venv-pyairbyte
	$(BIN)/uv pip sync --quiet --python .venv-pyairbyte/bin/python requirements/pyairbyte.lock.txt
	touch $@

# The opencost-parquet-exporter's own dependencies, for bench/bench_connector.py.
.venv-peer/.installed: requirements/peer.lock.txt $(VENV)/.installed
	$(PYTHON) -m venv .venv-peer
	$(BIN)/uv pip sync --quiet --compile-bytecode --python .venv-peer/bin/python requirements/peer.lock.txt
	touch $@

# Re-resolve the pinned dependencies after editing pyproject.toml.
lock: $(VENV)/.installed
	$(BIN)/uv pip compile --quiet pyproject.toml --all-extras --python-version 3.11 -o requirements/lock.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --python-version 3.11 -o requirements/connector.lock.txt
	$(BIN)/uv pip compile --quiet requirements/pyairbyte.in --python-version 3.11 -o requirements/pyairbyte.lock.txt
	$(BIN)/uv pip compile --quiet requirements/peer.in --python-version 3.11 -o requirements/peer.lock.txt

clean:
	rm -rf $(VENV) .venv-peer .venv-pyairbyte .pytest_cache .mypy_cache .ruff_cache
