# content-jobs: `make run` serves with a local Postgres, `make test` runs every test.
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
export VERSION

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

RUN_STAMP := $(VENV)/.installed-run

# Every install goes through uv.lock: `uv export` turns it into hashed requirements for the
# extras asked for, pip installs exactly those, then the project itself without deps.
define locked_install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'uv>=0.5'
	$(BIN)/uv export --quiet --frozen --no-emit-project --format requirements-txt $(1) \
		-o $(VENV)/requirements.txt
	$(BIN)/pip install -q --require-hashes -r $(VENV)/requirements.txt
	$(BIN)/pip install -q --no-deps -e .
endef

$(STAMP): pyproject.toml uv.lock
	$(call locked_install,--extra dev)
	touch $(STAMP) $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml uv.lock
	$(call locked_install,--extra dev-db)
	touch $(RUN_STAMP)

.PHONY: install
install: $(STAMP)  ## create the venv and install the project with its dev tools

.PHONY: run
run: $(RUN_STAMP)  ## serve on 127.0.0.1:8080 (PORT=8090 make run: another port; settings go before make; a local Postgres in ./.pgdata unless DATABASE_URL is set)
	$(BIN)/content-jobs dev $(DEV_ARGS)

.PHONY: lock
lock: $(STAMP)  ## refresh uv.lock to the newest versions pyproject.toml allows
	$(BIN)/uv lock --upgrade

# Most of the suite's time is spent waiting (on Postgres, on replicas, on timeouts), so it runs
# on more workers than cores; each worker starts its own throwaway Postgres.
TEST_WORKERS ?= 4

.PHONY: test
test: $(STAMP)  ## the whole suite against throwaway Postgres servers, with branch coverage and its floor
	$(BIN)/pytest -n $(TEST_WORKERS) --cov --cov-report=term:skip-covered

.PHONY: testcov
testcov: test  ## the same (make test measures coverage)

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(call locked_install,--extra dev --extra bench)
	touch $(BENCH_STAMP)

.PHONY: bench
bench: $(BENCH_STAMP)  ## run every benchmark (~30 min): a table, bench/results/latest.json
	bash bench/tools.sh
	$(BIN)/python -m bench

.PHONY: bench-smoke
bench-smoke: $(BENCH_STAMP)  ## every benchmark workload, tiny (~20 s): checks the harness, not speed
	$(BIN)/python -m bench --smoke

.PHONY: format
format: $(STAMP)  ## format the code
	$(BIN)/ruff format service tests bench examples
	$(BIN)/ruff check --fix service tests bench examples

.PHONY: lint
lint: $(STAMP)  ## ruff and formatting checks
	$(BIN)/ruff check service tests bench examples
	$(BIN)/ruff format --check service tests bench examples

.PHONY: mypy
mypy: $(STAMP)  ## strict type checks
	$(BIN)/mypy

.PHONY: all
all: lint mypy test  ## everything CI cares about

.PHONY: wheel
wheel: $(STAMP)  ## build dist/content_jobs-*.whl (migrations and queries inside)
	rm -rf dist && $(BIN)/pip wheel -q --no-deps -w dist .

.PHONY: image-test
image-test: $(STAMP)  ## build the image from the checkout as `docker build .` does, and run it
	CONTENT_JOBS_IMAGE_TEST=1 $(BIN)/pytest -p no:cacheprovider tests/image

.PHONY: clean
clean:  ## remove caches (not the venv or .pgdata)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .coverage htmlcov build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
