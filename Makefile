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

.PHONY: demo test test-unit test-component test-flow test-no-services test-fast test-integration \
	lint check bench chaos migration lock lock-upgrade check-lock clean

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

# Tiers (tests/README.md): unit is pure; component runs one part on real SQLite, loopback SMTP or
# the CLI in-process; flow runs the whole pipeline on fakes and a virtual clock; tests marked
# `integration` (in tests/integration, and flow tests' PostgreSQL cases) need real services.
# `make test` runs the fault suite's quick tier (tests/chaos, marker chaos: its scenarios mostly
# wait out leases of real seconds on processes of their own) in a second pytest beside the rest,
# its output shown once it ends; either failing fails the target.
test: $(DEV_STAMP)  # every tier; the integration tests need Redis and PostgreSQL (see README)
	@faults_log=$$(mktemp); \
	$(BIN)/pytest -m chaos -p no:cacheprovider tests/chaos >"$$faults_log" 2>&1 & faults=$$!; \
	trap 'kill $$faults 2>/dev/null' INT TERM; \
	$(BIN)/pytest -m "not chaos"; rest=$$?; \
	wait $$faults; faults_rc=$$?; \
	echo "== the fault suite's quick tier (pytest -m chaos tests/chaos), run beside the rest:"; \
	cat "$$faults_log"; rm -f "$$faults_log"; \
	test $$rest -eq 0 && test $$faults_rc -eq 0

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

# The fault suite (issue 9, docs/reliability.md) at full size on PostgreSQL: real Redis, worker
# and scheduler processes, a programmable SMTP sink; one checker line per scenario. `make test`
# runs its quick tier. FOLLOWUP_CHAOS_SEED=n replays a run's seed.
chaos: $(DEV_STAMP)
	FOLLOWUP_CHAOS=full $(BIN)/pytest tests/chaos -m chaos -o timeout=3600 -p no:cacheprovider

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

check: $(DEV_STAMP)  # what CI checks before the tests: fresh locks, migrations match the models
	$(BIN)/followup db check

# make bench [only=send,enrol,events,report,claim,demo] [size=small|full]: each target of
# issue 15 against its limit in one run, appended to bench/RESULTS.md (full: ~15 min).
bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(if $(size),--size $(size)) $(only)

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
