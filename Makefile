# Quick start:  make demo   (the example DAG on a real local Airflow against the simulator;
#                            KEEP=1 leaves Airflow up afterwards, until Ctrl-C)
#               make test   (unit and end-to-end tests on SQLite in one run, without `scale`)
#
# The tiers (times measured on a 2-core machine, README's "Quick start"):
#   make unit          everything but real Airflow components and the scale runs
#   make e2e           the end-to-end tests without the scale runs, on AIRFLOW_MODE (sqlite)
#   make scale         the scale runs (1,000-image batch, 52-image fan-out, 1,000 pollers), SQLite
#   make e2e-postgres  the end-to-end tests on PostgreSQL + LocalExecutor     (E2E_MARK narrows)
#   make e2e-celery    the end-to-end tests on PostgreSQL + Redis + Celery, two triggerers
#
# `test`, `unit` and `e2e` run in WORKERS pytest processes (pytest-xdist, one test file per
# process at a time; 2 by default, WORKERS=0: one process). Most of a test's time is spent
# waiting (for Airflow's loops, a render, a subprocess), so two processes share two cores
# well. Each worker starts its own simulator and, for the end-to-end tests, its own Airflow.
# The scale runs and the PostgreSQL and Celery runs keep one process: their own servers.
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
KEEP ?=
WORKERS ?= 2
XDIST := $(if $(filter-out 0,$(WORKERS)),-n $(WORKERS) --dist loadfile)
ARTIFACTS := .artifacts
MODE_ARG := $(if $(AIRFLOW_MODE),--airflow-mode=$(AIRFLOW_MODE))
# What the other deployments run: the scale runs prove throughput once (on SQLite), and the
# recipes (the users' how-tos) prove the documented steps once, in `make test`.
E2E_MARK ?= e2e and not scale and not recipes

.DEFAULT_GOAL := help
.PHONY: help bootstrap demo test unit e2e scale e2e-sqlite e2e-postgres e2e-celery lint format clean bench

help:
	@echo "make demo       run the example DAG on a real local Airflow + simulator (KEEP=1: keep it up)"
	@echo "make test       unit tests + end-to-end tests on SQLite, without the scale runs"
	@echo "make unit       the unit tests only (no real Airflow component)"
	@echo "make e2e        the end-to-end tests without the scale runs (AIRFLOW_MODE=...)"
	@echo "make scale      the scale runs (1,000-image batch, 52-image fan-out) on SQLite"
	@echo "make e2e-postgres  the end-to-end tests on PostgreSQL + LocalExecutor"
	@echo "make e2e-celery    the end-to-end tests on PostgreSQL + Redis + Celery, two triggerers"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make bench      the benchmark table (~58 min; BENCH_ARGS=--quick: ~17 min)"
	@echo "make bootstrap  create/update .venv"
	@echo "make clean      remove .venv and caches"
	@echo "PYTEST_ARGS='-k ...' narrows any test target; WORKERS=0 runs test/unit/e2e in one process."

bootstrap:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" bash dev/bootstrap.sh

demo: bootstrap
	$(VPY) dev/demo.py $(if $(filter-out 0,$(KEEP)),--keep)

# Each test target keeps pytest's exit code in .artifacts/pytest-exit-code (.ci/run reads
# it: 5 means that no test was collected, which counts as a failure).
define run_pytest
	@mkdir -p $(ARTIFACTS)
	@set +e; echo '+ pytest $(1)'; $(VPY) -m pytest $(1) $(PYTEST_ARGS); rc=$$?; echo $$rc > $(ARTIFACTS)/pytest-exit-code; \
	if [ $$rc -eq 5 ]; then echo "make $@: pytest collected no tests (exit code 5)" >&2; fi; \
	exit $$rc
endef

test: bootstrap
	$(call run_pytest,-m "not scale" $(MODE_ARG) $(XDIST))

unit: bootstrap
	$(call run_pytest,-m "not e2e and not scale" $(XDIST))

e2e: bootstrap
	$(call run_pytest,-m "e2e and not scale" $(MODE_ARG) $(XDIST))

scale: bootstrap
	$(call run_pytest,-m scale --airflow-mode=sqlite)

e2e-sqlite e2e-postgres e2e-celery: bootstrap
	$(call run_pytest,-m "$(E2E_MARK)" --airflow-mode=$(@:e2e-%=%))

# One table: every benchmark figure beside its target and the anchors measured in the same
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
