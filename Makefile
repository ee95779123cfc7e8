# Everyday commands. `make gameday` and `make test` set up a fresh machine first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/nightly.yaml

.PHONY: setup gameday test unit lint up down status clean

setup: $(STAMP)
	@./scripts/ensure-packages.sh

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e ".[dev,reference,parquet]"
	@touch $(STAMP)

gameday: setup
	$(BIN)/mlchaos gameday $(SCENARIO) --report-dir reports

test: setup
	@./scripts/ensure-packages.sh --chromium
	$(BIN)/pytest tests

unit: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check mlchaos tests benchmarks
	$(BIN)/mypy

up: setup
	$(BIN)/mlchaos up

down:
	$(BIN)/mlchaos down

status:
	$(BIN)/mlchaos status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
