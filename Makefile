# gridgov — two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export GRIDGOV_DATA_DIR ?= $(CURDIR)/var

.PHONY: run test install assets migrate demo lint bench messages clean e2e

$(BIN)/gridgov: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/gridgov assets

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.package-lock.json

migrate: install
	GRIDGOV_DEBUG=1 $(BIN)/gridgov migrate --no-input -v0

run: migrate
	GRIDGOV_DEBUG=1 $(BIN)/gridgov demo --if-empty
	GRIDGOV_DEBUG=1 $(BIN)/gridgov runserver 127.0.0.1:8000

test: install
	$(BIN)/ruff check gridgov tests bench
	$(BIN)/lint-imports --no-cache
	GRIDGOV_TESTING=1 GRIDGOV_DATA_DIR=$$(mktemp -d) $(BIN)/gridgov makemigrations --check --dry-run -v0
	GRIDGOV_TESTING=1 GRIDGOV_DATA_DIR=$$(mktemp -d) $(BIN)/pytest -q

bench: install
	GRIDGOV_TESTING=1 $(BIN)/python bench/bench_areas.py
	GRIDGOV_TESTING=1 $(BIN)/python bench/bench_registry_list.py
	GRIDGOV_TESTING=1 $(BIN)/python bench/bench_registry_import.py --rows 100000
	GRIDGOV_TESTING=1 $(BIN)/python bench/bench_cases_intake.py
	GRIDGOV_TESTING=1 $(BIN)/python bench/bench_cases_inbox.py
	GRIDGOV_TESTING=1 $(BIN)/python bench/bench_visits.py

messages: install
	cd gridgov && GRIDGOV_DEBUG=1 ../$(BIN)/gridgov makemessages -l zh_Hans --no-obsolete --no-location -i 'migrations/*'
	cd gridgov && GRIDGOV_DEBUG=1 ../$(BIN)/gridgov compilemessages -l zh_Hans

clean:
	rm -rf $(VENV) node_modules
