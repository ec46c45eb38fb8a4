# The single entry point: make demo, make test, make lint, make bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo test test-fast lint bench migration clean

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

test: $(DEV_STAMP)
	$(BIN)/pytest

test-fast: $(DEV_STAMP)
	$(BIN)/pytest -m "not integration"

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy worker models

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

migration: $(DEV_STAMP)  # make migration m="what changed" id=0002
	$(BIN)/python -m worker.engine.schema "$(m)" "$(id)"
	$(BIN)/ruff format --quiet worker/engine/migrations/versions

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
