# Everything a fresh machine with python3 and make needs: `make run` and `make test` build the venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run up replay faults payment-faults wrk test lint typecheck security audit unit integration e2e bench package clean

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

## The main job: one programme week and four months on the embedded local stack (PEOPLE=500 by default; PEOPLE=5000
## is the larger run, about 50 minutes on a 2-core machine).
PEOPLE ?= 500
run: $(INSTALLED)
	$(BIN)/python -m devstack week --people $(PEOPLE)

## The embedded local stack alone, until Ctrl-C.
up: $(INSTALLED)
	$(BIN)/python -m devstack up

## The launch-peak replay (wrk from Debian's packages): the full path, then the no-op sink.
replay: $(INSTALLED) wrk
	$(BIN)/python -m devstack replay --count 80000 --duration 120
	$(BIN)/python -m devstack replay --count 80000 --duration 120 --sink --rate 0

## The fault-injection run (10,000 registrations under injected faults; COUNT=... to change).
COUNT ?= 10000
faults: $(INSTALLED)
	$(BIN)/python -m devstack faults --count $(COUNT)

## The payment path under the same faults (1,000 members through four incentives; MEMBERS=... to change).
MEMBERS ?= 1000
payment-faults: $(INSTALLED)
	$(BIN)/python -m devstack payment-faults --count $(MEMBERS)

wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

## The whole test suite: lint, types, unit, integration (moto), e2e (the local stack over HTTP), packaging, in
## TEST_PROCESSES processes (pytest-xdist's loadgroup: the e2e tests on the shared stacks stay together, tests/conftest.py).
TEST_PROCESSES ?= 2
test: lint typecheck security wrk
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadgroup

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

## bandit on our code (each skip justified in pyproject.toml).
security: $(INSTALLED)
	$(BIN)/bandit -r functions devstack infra ops -c pyproject.toml -q

## pip-audit on every pin in constraints.txt against PyPI's vulnerability data (needs that service; --strict: a
## package it cannot answer for fails the audit, never a silent pass). Not part of `make test`: see the README.
audit: $(INSTALLED)
	@report=$$(mktemp); \
	$(BIN)/pip-audit -r constraints.txt --no-deps --disable-pip --strict --progress-spinner off >$$report 2>&1; \
	status=$$?; cat $$report; \
	if [ $$status -ne 0 ]; then \
		if grep -qE "could not be audited|ConnectionError|NameResolutionError|Max retries|timed out" $$report; then \
			echo "make audit: FAILED: the vulnerability service (PyPI's JSON API) could not be reached, or did" \
				"not answer for every pinned package; nothing was audited as clean." >&2; \
		else \
			echo "make audit: FAILED: pinned packages with known vulnerabilities, listed above." >&2; \
		fi; \
		rm -f $$report; exit 1; \
	fi; \
	rm -f $$report

unit: $(INSTALLED)
	$(BIN)/python -m pytest tests/unit

integration: $(INSTALLED)
	$(BIN)/python -m pytest tests/integration

e2e: $(INSTALLED)
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadgroup tests/e2e

bench: $(INSTALLED)
	$(BIN)/python -m pytest bench --benchmark-only

## The deployable template and package, in build/package (see infra/).
package: $(INSTALLED)
	$(BIN)/python -m infra.package build/package

clean:
	rm -rf $(VENV) build .local .pytest_cache .mypy_cache .ruff_cache
