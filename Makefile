# The single entry point: make demo, make test, make lint, make bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test test-unit test-component test-flow test-no-services test-fast test-integration \
	lint bench migration clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/followup demo

# Tiers (tests/README.md): unit is pure; component runs one part on real SQLite, loopback SMTP or
# the CLI in-process; flow runs the whole pipeline on fakes and a virtual clock; tests marked
# `integration` (in tests/integration, and flow tests' PostgreSQL cases) need real services.
test: $(DEV_STAMP)  # every tier; the integration tests need Redis and PostgreSQL (see README)
	$(BIN)/pytest

test-unit: $(DEV_STAMP)  # pure: no database, no socket
	$(BIN)/pytest tests/unit

test-component: $(DEV_STAMP)  # SQLite files, SMTP on 127.0.0.1, the CLI in-process
	$(BIN)/pytest tests/component -m "not integration"

test-flow: $(DEV_STAMP)  # the whole pipeline on fakes, on a virtual clock
	$(BIN)/pytest tests/flow -m "not integration"

test-no-services: $(DEV_STAMP)  # unit + component + flow: all that runs without Redis/PostgreSQL
	$(BIN)/pytest -m "not integration"

test-fast: test-no-services  # the former name of test-no-services

test-integration: $(DEV_STAMP)  # only what needs real Redis, PostgreSQL, processes, Chromium
	$(BIN)/pytest -m integration

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

migration: $(DEV_STAMP)  # make migration m="what changed" id=0002
	$(BIN)/python -m worker.engine.schema "$(m)" "$(id)"
	$(BIN)/ruff format --quiet worker/engine/migrations/versions

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
