# Everyday commands. `make gameday` and `make test` set up a fresh machine first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/nightly.yaml
EXAMPLE := examples/mlserver-mlflow
EXAMPLE_VENV := .venv-example
EXAMPLE_STAMP := $(EXAMPLE_VENV)/.installed
EXAMPLE_STATE ?= .mlchaos/example

.PHONY: setup example-setup gameday gameday-example example-up example-down test unit lint docs up down status clean

setup: $(STAMP)
	@./scripts/ensure-packages.sh

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e ".[dev,reference,parquet]"
	@touch $(STAMP)

gameday: setup
	$(BIN)/mlchaos gameday $(SCENARIO) --report-dir reports

# The fraud team's staging (MLServer, MLflow, its own rules), in its own virtualenv.
example-setup: setup $(EXAMPLE_STAMP)

$(EXAMPLE_STAMP): $(EXAMPLE)/requirements.txt
	@test -d $(EXAMPLE_VENV) || $(PY) -m venv $(EXAMPLE_VENV)
	@$(EXAMPLE_VENV)/bin/pip install --quiet --upgrade pip
	@$(EXAMPLE_VENV)/bin/pip install --quiet -r $(EXAMPLE)/requirements.txt
	@touch $(EXAMPLE_STAMP)

example-up: example-setup
	$(EXAMPLE_VENV)/bin/python $(EXAMPLE)/stack.py up --state $(EXAMPLE_STATE) --mlchaos $(BIN)/mlchaos

example-down:
	$(EXAMPLE_VENV)/bin/python $(EXAMPLE)/stack.py down --state $(EXAMPLE_STATE)

gameday-example: example-up
	FRAUD_MONITORING_PASSWORD=$$(cat $(EXAMPLE_STATE)/monitoring-password) \
	FRAUD_PAGERDUTY_TOKEN=$$(cat $(EXAMPLE_STATE)/pagerduty-api-token) \
	  $(BIN)/mlchaos gameday $(EXAMPLE)/scenario.yaml --service $(EXAMPLE_STATE)/service.yaml --report-dir reports; \
	  status=$$?; $(MAKE) --no-print-directory example-down; exit $$status

test: setup example-setup
	@./scripts/ensure-packages.sh --chromium
	$(BIN)/pytest tests

unit: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/ruff check mlchaos tests benchmarks
	$(BIN)/mypy

# The documentation site (docs/, its reference generated from the code) into build/site.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

up: setup
	$(BIN)/mlchaos up

down:
	$(BIN)/mlchaos down

status:
	$(BIN)/mlchaos status

clean:
	rm -rf $(VENV) $(EXAMPLE_VENV) .pytest_cache .mypy_cache .ruff_cache
