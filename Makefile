# The two commands of the README: `make run` and `make test`. Both create .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
CONFIG ?= deploy/examples/region-syddanmark.toml

.PHONY: run demo test lint bench venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/edigate serve --config $(CONFIG)

demo: $(STAMP)
	$(BIN)/edigate demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/ruff check edigate notify tests bench
	$(BIN)/mypy edigate notify tests bench
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check edigate notify tests bench
	$(BIN)/mypy edigate notify tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info var
