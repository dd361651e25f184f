# The two commands of the README: `make demo` and `make test`. Each sets up .venv/ first.
# Bytecode is compiled at install (as pip does in the connector image): with
# PYTHONDONTWRITEBYTECODE set, every process would otherwise compile the CDK again (~1.2 s).
SUPPORTED_PYTHONS := 3.11 3.12 3.13
# The first of python3 (when supported), python3.11, 3.12, 3.13 or pyenv's that works.
PYTHON ?= $(shell tools/find-python $(SUPPORTED_PYTHONS))
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: demo test test-fast test-other-pythons lint bench lock clean

$(VENV)/.installed: requirements/lock.txt pyproject.toml tools/dbt-chdb/pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python 3.11, 3.12 or 3.13 found (python3, \
	python3.1x, pyenv). Install one (Debian 12: apt-get install python3 python3-venv; \
	or: uv python install 3.13), then run make again, or point at it: \
	make PYTHON=/path/to/python3.13 demo" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps -e . -e tools/dbt-chdb
	touch $@

demo: $(VENV)/.installed
	$(BIN)/kubecost-pipeline demo

# What CI runs (.ci/run): the linters, the fast lane on the other supported Pythons found
# here, then every test (PyAirbyte's environment first: integration tests drive it).
test: $(VENV)/.installed .venv-pyairbyte/.installed .venv-optscale/.installed lint test-other-pythons
	$(BIN)/python -m pytest -n 2

# The inner loop: the unit tests not marked slow (dbt builds, chains of real processes);
# integration_tests/ (end to end across rooms) run in `make test`.
FAST_LANE := -m "not slow" unit_tests
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 $(FAST_LANE)

# The fast lane on each supported Python other than .venv's, in its own .venv-3.X/.
test-other-pythons: $(VENV)/.installed
	@main=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	for version in $(SUPPORTED_PYTHONS); do \
	  [ "$$version" = "$$main" ] && continue; \
	  python=$$(tools/find-python $$version) \
	    || { echo "make: Python $$version not found here: its fast lane did not run"; continue; }; \
	  echo "Fast lane on Python $$version ($$python)"; \
	  $(MAKE) --no-print-directory PYTHON=$$python VENV=.venv-$$version .venv-$$version/.installed \
	    && .venv-$$version/bin/python -m pytest -n 2 -q -p no:cacheprovider $(FAST_LANE) \
	    || exit 1; \
	done

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy source_kubecost kubecost_pipeline
	$(BIN)/sqlfluff lint --disable-progress-bar dbt_k8s_costs/models dbt_k8s_costs/tests

bench: $(VENV)/.installed .venv-peer/.installed
	$(BIN)/python -m bench

# PyAirbyte, which integration_tests/test_connector_pyairbyte.py drives the connector with;
# its own environment, because its pins conflict with ours.
.venv-pyairbyte/.installed: requirements/pyairbyte.lock.txt $(VENV)/.installed
	$(PYTHON) -m venv .venv-pyairbyte
	$(BIN)/uv pip sync --quiet --python .venv-pyairbyte/bin/python requirements/pyairbyte.lock.txt
	touch $@

# OptScale's own code (../shared/optscale), which integration_tests/test_post_sync_optscale.py
# runs on the hook's output: its own environment, on the Python of OptScale's Dockerfiles.
.venv-optscale/.installed: requirements/optscale.lock.txt $(VENV)/.installed
	@python=$$(tools/find-python 3.12) || { echo "make: OptScale's tests need Python 3.12 \
	(OptScale's own); install it (pyenv install 3.12, or python3.12 on PATH)" >&2; exit 1; }; \
	rm -rf .venv-optscale && $(BIN)/uv venv --quiet --python $$python .venv-optscale
	$(BIN)/uv pip sync --quiet --python .venv-optscale/bin/python requirements/optscale.lock.txt
	touch $@

# The opencost-parquet-exporter's own dependencies, for bench/bench_connector.py.
.venv-peer/.installed: requirements/peer.lock.txt $(VENV)/.installed
	$(PYTHON) -m venv .venv-peer
	$(BIN)/uv pip sync --quiet --compile-bytecode --python .venv-peer/bin/python requirements/peer.lock.txt
	touch $@

# Re-resolve the pinned dependencies after editing pyproject.toml: one lock for every
# supported Python (--universal writes markers where they differ).
lock: $(VENV)/.installed
	$(BIN)/uv pip compile --quiet pyproject.toml --all-extras --universal --python-version 3.11 -o requirements/lock.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --universal --python-version 3.11 -o requirements/connector.lock.txt
	$(BIN)/uv pip compile --quiet requirements/pyairbyte.in --universal --python-version 3.11 -o requirements/pyairbyte.lock.txt
	$(BIN)/uv pip compile --quiet requirements/peer.in --universal --python-version 3.11 -o requirements/peer.lock.txt
	$(BIN)/uv pip compile --quiet requirements/optscale.in --python-version 3.12 -o requirements/optscale.lock.txt

clean:
	rm -rf $(VENV) $(VENV)-3.* .venv-peer .venv-pyairbyte .venv-optscale .pytest_cache .mypy_cache .ruff_cache
