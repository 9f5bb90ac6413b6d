# Quick start:  make demo   (the example DAG on a real local Airflow against the simulator)
#               make test   (the whole test suite, end-to-end tests included, on SQLite)
#
# The end-to-end tests run on one deployment per session: AIRFLOW_MODE=sqlite (default),
# postgres (PostgreSQL 15, LocalExecutor) or celery (PostgreSQL, Redis, CeleryExecutor, two
# triggerers); `make e2e-postgres` and `make e2e-celery` are the other two.
#
# Every target bootstraps .venv first (dev/bootstrap.sh: uv, editable install with the dev
# extras); that step is skipped in about a second when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=
AIRFLOW_MODE ?=
BENCH_ARGS ?=
ARTIFACTS := .artifacts
MODE_ARG := $(if $(AIRFLOW_MODE),--airflow-mode=$(AIRFLOW_MODE))

.DEFAULT_GOAL := help
.PHONY: help bootstrap demo test e2e e2e-sqlite e2e-postgres e2e-celery unit lint format clean bench

help:
	@echo "make demo       run the example DAG on a real local Airflow + simulator"
	@echo "make test       run the test suite (PYTEST_ARGS='-k ...' to narrow it)"
	@echo "make unit       the suite without the end-to-end tests"
	@echo "make e2e        only the end-to-end tests (real Airflow components; AIRFLOW_MODE=...)"
	@echo "make e2e-postgres  the end-to-end tests on PostgreSQL + LocalExecutor"
	@echo "make e2e-celery    the end-to-end tests on PostgreSQL + Redis + Celery, two triggerers"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make bench      the benchmark table of issue 12 (~58 min; BENCH_ARGS=--quick: ~17 min)"
	@echo "make bootstrap  create/update .venv"
	@echo "make clean      remove .venv and caches"

bootstrap:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" bash dev/bootstrap.sh

demo: bootstrap
	$(VPY) dev/demo.py

# pytest's exit code is kept in .artifacts/pytest-exit-code (.ci/run reads it: 5 means that
# no test was collected, which counts as a failure).
test: bootstrap
	@mkdir -p $(ARTIFACTS)
	@set +e; $(VPY) -m pytest $(MODE_ARG) $(PYTEST_ARGS); rc=$$?; echo $$rc > $(ARTIFACTS)/pytest-exit-code; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc

unit: bootstrap
	$(VPY) -m pytest -m "not e2e" $(PYTEST_ARGS)

e2e: bootstrap
	$(VPY) -m pytest -m e2e $(MODE_ARG) $(PYTEST_ARGS)

# E2E_MARK narrows them, e.g. E2E_MARK="e2e and not scale" (what CI runs on PostgreSQL).
E2E_MARK ?= e2e
e2e-sqlite e2e-postgres e2e-celery: bootstrap
	$(VPY) -m pytest -m "$(E2E_MARK)" --airflow-mode=$(@:e2e-%=%) $(PYTEST_ARGS)

# One table: every figure of issue 12 beside its target and the anchors measured in the same
# run (benchmarks/README.md). py-spy (the 'bench' extra) adds profiles; it is optional.
bench: bootstrap
	@test -x $(VENV)/bin/py-spy || (command -v uv >/dev/null && uv pip install --python $(VPY) --quiet -e ".[bench]") \
		|| echo "make bench: py-spy not installed, profiles skipped" >&2
	$(VPY) -m benchmarks $(BENCH_ARGS)

# All three run even when one fails, so one pass shows every problem.
lint: bootstrap
	@rc=0; \
	echo "+ ruff check ."; $(VPY) -m ruff check . || rc=1; \
	echo "+ ruff format --check ."; $(VPY) -m ruff format --check . || rc=1; \
	echo "+ mypy"; $(VPY) -m mypy || rc=1; \
	exit $$rc

format: bootstrap
	$(VPY) -m ruff format .
	$(VPY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(ARTIFACTS) .demo
