# ksmc-bot developer commands. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.txt
UV_VERSION := 0.13.9

.DEFAULT_GOAL := help
.PHONY: help run test lint bench sim clean lock

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

# Installs come from the hash-pinned lock (scripts/lock.py says why); the project itself is
# installed without its dependencies, with the locked setuptools (no build isolation).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lock: ## re-resolve requirements/*.txt (hash-pinned) from pyproject.toml; UPGRADE=1: newest
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q 'uv==$(UV_VERSION)'
	$(BIN)/python scripts/lock.py

run: $(STAMP) ## the whole bot in a terminal on the simulated fleet (no terminal: the demo script)
	$(BIN)/ksmc-bot console

sim: $(STAMP) ## start the simulated clusters only (demo world)
	$(BIN)/ksmc-bot sim --world demo --kubeconfig-out .tmp/kubeconfig

lint: $(STAMP) ## ruff, mypy (strict), the layer contracts (import-linter) and dead code (vulture)
	$(BIN)/ruff check bot console handlers k8s tests benchmarks
	$(BIN)/ruff format --check bot console handlers k8s tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/vulture

test: $(STAMP) ## lint, then the whole test suite on SQLite and a throwaway PostgreSQL
	$(MAKE) lint
	PYTHON=$(BIN)/python scripts/with-postgres.sh scripts/run-tests.sh

bench: $(STAMP) ## speed and memory goals, reported as ratios against same-run baselines
	scripts/with-postgres.sh $(BIN)/python -m benchmarks

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .tmp
