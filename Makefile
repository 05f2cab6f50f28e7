# content-jobs: `make run` serves with a local Postgres, `make test` runs every test.
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP)  ## create the venv and install the project with its dev tools

.PHONY: run
run: $(STAMP)  ## serve on :8080 (a local Postgres in ./.pgdata unless DATABASE_URL is set)
	$(BIN)/content-jobs dev $(DEV_ARGS)

.PHONY: test
test: $(STAMP)  ## run the whole test suite against a throwaway Postgres
	$(BIN)/pytest

.PHONY: testcov
testcov: $(STAMP)  ## tests with branch coverage
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report --skip-covered

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

.PHONY: bench
bench: $(BENCH_STAMP)  ## run every benchmark (~10 min): a table, bench/results/latest.json
	$(BIN)/python -m bench

.PHONY: bench-smoke
bench-smoke: $(BENCH_STAMP)  ## every benchmark workload, tiny (~20 s): checks the harness, not speed
	$(BIN)/python -m bench --smoke

.PHONY: format
format: $(STAMP)  ## format the code
	$(BIN)/ruff format service tests bench
	$(BIN)/ruff check --fix service tests bench

.PHONY: lint
lint: $(STAMP)  ## ruff and formatting checks
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

.PHONY: mypy
mypy: $(STAMP)  ## strict type checks
	$(BIN)/mypy

.PHONY: all
all: lint mypy testcov  ## everything CI cares about

.PHONY: docker-build
docker-build:  ## build the container image
	docker build -t content-jobs:latest .

.PHONY: clean
clean:  ## remove caches (not the venv or .pgdata)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
