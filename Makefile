# secops.rotation — the two commands a new user types are `make demo` and `make test`.
# Everything is installed into a fresh venv from the package registries; nothing else is needed beforehand.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
PY := $(BIN)/python
LAB_DIR ?= $(CURDIR)/.lab
BUILD := $(CURDIR)/.build
COLLECTIONS := $(BUILD)/collections
# pytest workers for the integration suite (each shares the one lab of the session)
PYTEST_ARGS ?=

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export SECOPS_LAB_DIR := $(LAB_DIR)

.PHONY: help venv collection lab-up lab-down lab-status demo test unit integration integration-core integration-roles integration-blue-green matrix molecule lint sanity build changelog clean

help:
	@echo "make demo     - set up everything and show the lab of real servers working"
	@echo "make test     - set up everything and run all tests (unit, integration, matrix, molecule, lint, sanity, build)"
	@echo "make lab-up / lab-down / lab-status - the lab of real servers (env file: $(LAB_DIR)/env)"
	@echo "make matrix   - unit tests + smoke test on each supported ansible-core (2.17, 2.18, 2.19; nox, venvs in .build/nox)"
	@echo "make unit | integration (= integration-core, -roles, -blue-green) | molecule | lint | sanity | build | changelog | clean"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The collection as Ansible sees it at run time (a symlink is fine here; ansible-test gets a real copy).
# lab/collection.py owns the link (.build/collections/ansible_collections/secops/rotation -> the checkout).
collection: venv
	$(PY) -m lab.collection >/dev/null

lab-up: venv
	$(PY) -m lab up --dir $(LAB_DIR)

lab-down:
	@if [ -x $(PY) ]; then $(PY) -m lab down --dir $(LAB_DIR); fi

lab-status: venv
	$(PY) -m lab status --dir $(LAB_DIR)

demo: venv collection
	$(PY) -m lab demo --dir $(LAB_DIR)

unit: venv collection
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

# A fixed basetemp keeps the test lab's state below .build/pytest, so a lab left by a killed run is found and
# stopped by the next one, and `lab leftovers` can prove that nothing of this run is left running.
# The suite runs as three parts, each with its own lab, so that `make test` can run them side by side: the
# blue-green role tests and the certificate and agent role tests (both mostly waiting for reloads, agents, load
# loops and playbooks), and the rest.
SLOW_ROLE_TESTS := tests/integration/test_vault_agent.py tests/integration/test_pki_certs.py
BLUE_GREEN_TESTS := tests/integration/test_blue_green.py
integration: integration-core integration-roles integration-blue-green

integration-core: venv collection
	$(PY) -m pytest -q tests/integration $(SLOW_ROLE_TESTS:%=--ignore=%) $(BLUE_GREEN_TESTS:%=--ignore=%) --basetemp=$(BUILD)/pytest --durations=15 $(PYTEST_ARGS)
	$(PY) -m lab leftovers --dir $(BUILD)/pytest

integration-blue-green: venv collection
	$(PY) -m pytest -q $(BLUE_GREEN_TESTS) --basetemp=$(BUILD)/pytest-bg --durations=5 $(PYTEST_ARGS)
	$(PY) -m lab leftovers --dir $(BUILD)/pytest-bg

integration-roles: venv collection
	$(PY) -m pytest -q $(SLOW_ROLE_TESTS) --basetemp=$(BUILD)/pytest-roles --durations=10 $(PYTEST_ARGS)
	$(PY) -m lab leftovers --dir $(BUILD)/pytest-roles

# The supported ansible-core versions (noxfile.py): one nox session per minor, each in its own venv below
# .build/nox, runs the unit tests and the smoke test (the demo playbook: every module through ansible-playbook).
# One lab serves all sessions; it is stopped however nox ends.
MATRIX_LAB := $(BUILD)/matrix-lab
NOX_ARGS ?=
matrix: venv collection
	trap '$(PY) -m lab down --dir $(MATRIX_LAB) >/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	$(PY) -m lab up --dir $(MATRIX_LAB); \
	SECOPS_LAB_ENV=$(MATRIX_LAB)/env $(BIN)/nox --no-color $(NOX_ARGS)
	$(PY) -m lab leftovers --dir $(MATRIX_LAB)

# Blue-green rotations with the roles on three local demo app instances (molecule/default, no containers);
# its lab and instances live in .build/molecule and must be gone afterwards.
molecule: venv collection
	$(BIN)/molecule test
	$(PY) -m lab leftovers --dir $(BUILD)/molecule

lint: venv collection
	$(BIN)/ansible-lint --profile production

sanity: venv
	VENV_BIN=$(BIN) scripts/sanity.sh

build: venv
	mkdir -p $(BUILD)/dist
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist .

changelog: venv
	$(BIN)/antsibull-changelog lint

# Independent suites run three at a time, longest first (most of the integration time is waiting for reloads,
# agents, load loops and playbooks, so three fit on 2 cores); each has its own lab and prints its own report.
TEST_PARTS := integration-blue-green integration-core integration-roles sanity matrix molecule lint unit changelog build
test: venv collection
	$(MAKE) --no-print-directory -j3 --output-sync=target $(TEST_PARTS)

clean: lab-down
	rm -rf $(BUILD) tests/output .pytest_cache
