# The single entry point: make demo, make test, make lint, make bench, make lock.
# Installs come from the lock files in requirements/ (every dependency pinned, with hashes),
# so a clone next month installs exactly what CI tested.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
MAIN_LOCK := requirements/main.lock
DEV_LOCK := requirements/dev.lock
UV_VERSION := 0.13.8  # only `make lock` uses uv (universal resolution); installs use pip
PIP_INSTALL := $(BIN)/python -m pip install --quiet

.PHONY: demo test test-fast lint check bench migration lock lock-upgrade check-lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

check-lock:
	@$(PYTHON) requirements/lock.py check

# The lock's pins first (pip and setuptools included), then followup itself without resolving.
$(STAMP): pyproject.toml $(MAIN_LOCK) | $(BIN)/python
	@$(PYTHON) requirements/lock.py check
	$(PIP_INSTALL) --require-hashes -r $(MAIN_LOCK)
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

$(DEV_STAMP): pyproject.toml $(DEV_LOCK) | $(BIN)/python
	@$(PYTHON) requirements/lock.py check
	$(PIP_INSTALL) --require-hashes -r $(DEV_LOCK)
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/followup demo

test: $(DEV_STAMP)
	$(BIN)/pytest

test-fast: $(DEV_STAMP)
	$(BIN)/pytest -m "not integration"

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy worker models

check: $(DEV_STAMP)  # what CI checks before the tests: fresh locks, migrations match the models
	$(BIN)/followup db check

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

migration: $(DEV_STAMP)  # make migration m="what changed" id=0002
	$(BIN)/python -m worker.engine.schema "$(m)" "$(id)"
	$(BIN)/ruff format --quiet worker/engine/migrations/versions

# Rewrite the locks after a change to pyproject.toml's dependencies (keeps the other pins).
lock: | $(BIN)/python
	$(PIP_INSTALL) "uv==$(strip $(UV_VERSION))"
	$(BIN)/python requirements/lock.py refresh --uv $(BIN)/uv

lock-upgrade: | $(BIN)/python  # every pin to the newest version pyproject.toml allows
	$(PIP_INSTALL) "uv==$(strip $(UV_VERSION))"
	$(BIN)/python requirements/lock.py refresh --uv $(BIN)/uv --upgrade

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
