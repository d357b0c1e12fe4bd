# The two commands: `make run` (the whole product on embedded defaults) and
# `make test` (lint, types, the whole suite, the emulator package's too). Both install what they need.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
# The Stripe emulator is its own package (a uv workspace member) with its own
# configuration; its tests run in their own pytest process, without pytest-django.
EMULATOR := stripe-emulator

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt typecheck pytest bench flower migrate clean node-sdk node-axe

help:
	@echo "make run    start redis, web (http://127.0.0.1:8000), worker, beat and flower"
	@echo "make test   ruff, mypy and the whole pytest suite with coverage"
	@echo "make bench  benchmarks (results in bench/RESULTS.md)"
	@echo "make flower Flower only, against the configured broker"

# uv is installed with pip when missing; the venv is created from uv.lock, with
# every workspace member's dev group too (the emulator's import-linter).
install:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --all-packages

migrate: install
	$(RUN) python manage.py migrate --noinput

run: migrate
	@mkdir -p var
	$(RUN) python manage.py ensure_dev_admin
	$(RUN) honcho -f Procfile.dev start

flower: install
	$(RUN) python -m saas.devtools.flower

# ruff reads the nearest pyproject.toml, so $(EMULATOR)/ is checked with its own settings.
# lint-imports checks the apps' layers (pyproject.toml's [tool.importlinter]), then
# the emulator's (its own pyproject's).
lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports
	cd $(EMULATOR) && $(RUN) lint-imports

fmt: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: install
	cd $(EMULATOR) && $(RUN) mypy
	$(RUN) mypy .

# Stripe's Node SDK (the exact release in tests/node/package-lock.json) for the
# emulator's cross-SDK test; without npm that test is skipped.
node-sdk:
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(EMULATOR)/tests/node --no-audit --no-fund --silent; \
	else \
		echo "npm not found: the Node SDK test will be skipped"; \
	fi

# axe-core (the exact release in tests/e2e/axe/package-lock.json), the accessibility
# engine the browser tests inject into each page; without npm those checks are skipped.
node-axe:
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent; \
	else \
		echo "npm not found: the browser tests' accessibility checks will be skipped"; \
	fi

# Both runs are spread over PYTEST_WORKERS pytest-xdist processes (PYTEST_WORKERS=0
# runs serially, in this process). Much of the suite waits on other processes (Celery
# workers, Chromium, the emulator), so the workers keep both cores busy; each has
# its own test database, Redis databases and cache prefix (saas/settings/test.py).
# --dist loadgroup hands out single tests, except those marked with one
# xdist_group, which one worker runs in turn. Coverage of both runs is combined
# in .coverage (pytest-cov collects the workers'; the second run appends and reports).
# EMULATOR_PYTEST_ARGS and PYTEST_ARGS pass options to each run.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup
pytest: install node-sdk node-axe
	$(RUN) pytest -p no:django $(XDIST) --cov=stripe_emulator --cov-report= $(EMULATOR)/tests $(EMULATOR_PYTEST_ARGS)
	$(RUN) pytest $(XDIST) --cov --cov-append --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install
	$(RUN) python bench/run.py

clean:
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
	rm -rf .import_linter_cache .grimp_cache
	rm -rf $(EMULATOR)/var $(EMULATOR)/dist $(EMULATOR)/.pytest_cache $(EMULATOR)/.mypy_cache
	rm -rf $(EMULATOR)/.import_linter_cache $(EMULATOR)/.grimp_cache
