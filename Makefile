# The two commands of the README. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# sigstore-js for the interop tests, from its lockfile.
JS := tests/interop/js
JS_STAMP := $(JS)/node_modules/.installed
# Debian packages the tests use: the system Chromium the web page tests drive with Playwright
# (never `playwright install`), and the PostgreSQL 15 server the storage tests start themselves.
SYSTEM_STAMP := $(VENV)/.system-packages
PG_INITDB := /usr/lib/postgresql/15/bin/initdb

.PHONY: up test lint typecheck layers unit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

# The demo turns CI emulation on (`assay ci-job`); a real deployment leaves it off.
up: $(STAMP)
	$(BIN)/assay up --ci-emulation

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The dependency direction of DESIGN.md: the contracts are [tool.importlinter] in pyproject.toml.
layers: $(STAMP)
	$(BIN)/lint-imports

$(SYSTEM_STAMP): $(BIN)/python
	command -v chromium || (apt-get install -y chromium || (apt-get update && apt-get install -y chromium))
	test -x $(PG_INITDB) || (apt-get install -y postgresql || (apt-get update && apt-get install -y postgresql))
	touch $(SYSTEM_STAMP)

# pytest-xdist: one worker per core (WORKERS=1 for one process). --dist loadfile keeps a module's
# tests on one worker, so its module fixtures (a seeded instance, a browser) start once; each
# worker starts its own PostgreSQL, SeaweedFS and shared `assay up` (tests/conftest.py).
WORKERS ?= auto
unit: $(STAMP) $(JS_STAMP) $(SYSTEM_STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist loadfile

test: lint typecheck layers unit

clean:
	rm -rf $(VENV) $(JS)/node_modules .mypy_cache .pytest_cache .ruff_cache .hypothesis .import_linter_cache
