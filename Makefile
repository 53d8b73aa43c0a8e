# Everything a fresh machine with python3 and make needs: `make run` and `make test` build the venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run up test lint typecheck unit integration e2e bench package clean

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

## The main job on the embedded local stack.
run: $(INSTALLED)
	$(BIN)/python -m devstack up

## The whole test suite: lint, types, unit, integration (moto), e2e (the local stack over HTTP), packaging.
test: lint typecheck
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/python -m pytest tests/unit

integration: $(INSTALLED)
	$(BIN)/python -m pytest tests/integration

e2e: $(INSTALLED)
	$(BIN)/python -m pytest tests/e2e

bench: $(INSTALLED)
	$(BIN)/python -m pytest bench --benchmark-only

## The deployable template and package, in build/package (see infra/).
package: $(INSTALLED)
	$(BIN)/python -m infra.package build/package

clean:
	rm -rf $(VENV) build .local .pytest_cache .mypy_cache .ruff_cache
