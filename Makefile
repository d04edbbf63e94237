# callcenter — run `make help` for the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo serve test test-fast check lint format bench clean messages

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

demo: $(STAMP) ## run the service with the simulated PBX on embedded defaults (Ctrl-C stops)
	$(BIN)/callcenter demo

serve: $(STAMP) ## run the service against the PBX in CALLCENTER_AMI_* (see README)
	$(BIN)/callcenter serve

test: $(STAMP) ## run the whole test suite (SQLite, PostgreSQL and Redis on loopback)
	$(BIN)/pytest

test-fast: $(STAMP) ## run the tests without the PostgreSQL/Redis suites
	$(BIN)/pytest -m "not postgres and not redis"

check: $(STAMP) ## ruff, mypy (strict) and the import-layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

LOCALES := src/callcenter/locale
messages: $(STAMP) ## extract the UI strings into the catalogues (zh_CN, en), then compile them (.mo)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k t -k tr -k localize --no-location \
		--sort-output -o $(LOCALES)/messages.pot .
	$(BIN)/pybabel update --ignore-obsolete --no-fuzzy-matching -i $(LOCALES)/messages.pot -d $(LOCALES)
	$(BIN)/pybabel compile --statistics -d $(LOCALES)

bench: $(STAMP) ## run the benchmarks and print their figures
	$(BIN)/python bench/ami_ingest.py
	$(BIN)/python bench/store_write.py

clean: ## remove the virtualenv, caches and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
