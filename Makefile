# The two commands of the README. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# sigstore-js for the interop tests, from its lockfile.
JS := tests/interop/js
JS_STAMP := $(JS)/node_modules/.installed
# The system Chromium the web page tests drive with Playwright (never `playwright install`).
CHROMIUM_STAMP := $(VENV)/.chromium

.PHONY: up test lint typecheck unit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

up: $(STAMP)
	$(BIN)/assay up

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

$(CHROMIUM_STAMP): $(BIN)/python
	command -v chromium || (apt-get install -y chromium || (apt-get update && apt-get install -y chromium))
	touch $(CHROMIUM_STAMP)

unit: $(STAMP) $(JS_STAMP) $(CHROMIUM_STAMP)
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(JS)/node_modules .mypy_cache .pytest_cache .ruff_cache .hypothesis
