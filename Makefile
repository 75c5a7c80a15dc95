# Two commands: `make demo` and `make test`. Each creates .venv when missing and
# installs into it (torch first, alone: only torch==2.13.0 has a CPU wheel on disk).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROOT ?= .factory
CYCLES ?= 3
SPEC ?= specs/hotel.yaml

DEPLOY_STAMP := $(VENV)/.installed-deploy

.PHONY: install demo test test-fast lint ui validate clean chromium debian-deploy

install: $(STAMP)

$(STAMP): pyproject.toml deployments/requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c deployments/requirements.lock -e '.[test]'
	touch $(STAMP)

# The deployment extras (PostgreSQL, Docker, Kubernetes and S3 parts, and what checks deployments/):
# only the tests install them (about 30 s), so `make demo` does not grow.
$(DEPLOY_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c deployments/requirements.lock -e '.[test,deploy,deploy-check]'
	touch $(DEPLOY_STAMP)

# Debian's PostgreSQL (the deployment test starts its own server as the postgres user) and
# docker-compose (only `docker-compose config`: there is no container engine here).
debian-deploy:
	(command -v docker-compose && ls /usr/lib/postgresql/*/bin/initdb) >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql docker-compose)

# dagster-dbt reads dbt's manifest; prepare it here (again when a model changes), never at import.
MANIFEST := dbt/target/manifest.json
$(MANIFEST): $(STAMP) dbt/dbt_project.yml dbt/profiles.yml $(shell find dbt/models -type f 2>/dev/null)
	cd dbt && ../$(BIN)/dbt parse --profiles-dir . --project-dir . --quiet

demo: $(STAMP) $(MANIFEST)
	$(BIN)/factory replay --spec $(SPEC) --cycles $(CYCLES) --root $(ROOT)

test: lint $(MANIFEST) chromium debian-deploy $(DEPLOY_STAMP)
	$(BIN)/python -m pytest -q -ra --durations=15

# The house rules CI can check: ruff (lint, format) and the import-linter contracts in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check factory benchmarks factory_tests
	$(BIN)/ruff format --check factory benchmarks factory_tests
	$(BIN)/lint-imports

# The UI test drives Debian's Chromium through Playwright (never `playwright install`).
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver)

test-fast: lint $(MANIFEST) debian-deploy $(DEPLOY_STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow"

validate: $(STAMP) $(MANIFEST)
	FACTORY_ROOT=$(ROOT) $(BIN)/dagster definitions validate -w workspace.yaml

ui: $(STAMP) $(MANIFEST)
	$(BIN)/factory ui --root $(ROOT) --spec $(SPEC)

clean:
	rm -rf $(ROOT)
