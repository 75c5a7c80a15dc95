# Two commands: `make demo` and `make test`. Each creates .venv when missing and
# installs into it (torch first, alone: only torch==2.13.0 has a CPU wheel on disk).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROOT ?= .factory
CYCLES ?= 3
SPEC ?= specs/hotel.yaml

.PHONY: install demo test test-fast ui validate clean

install: $(STAMP)

$(STAMP): pyproject.toml deployments/requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c deployments/requirements.lock -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/factory replay --spec $(SPEC) --cycles $(CYCLES) --root $(ROOT)

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow"

validate: $(STAMP)
	FACTORY_ROOT=$(ROOT) $(BIN)/dagster definitions validate -w workspace.yaml

ui: $(STAMP)
	$(BIN)/factory ui --root $(ROOT) --spec $(SPEC)

clean:
	rm -rf $(ROOT)
