# The two commands of the README: `make run` and `make test`. Both create .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
CONFIG ?= deploy/examples/region-syddanmark.toml
# The FHIR validator (validator/: HAPI FHIR's validation in a small JVM program), built with Maven when the
# jar is missing or older than its pom or sources. Without Java or Maven the service runs, FHIR unavailable.
JAR := validator/target/edigate-fhir-validator.jar
JAVA_SOURCES := $(shell find validator/src validator/patches -type f 2>/dev/null)

.PHONY: run demo test lint bench bench-fhir venv clean validator

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

$(JAR): validator/pom.xml $(JAVA_SOURCES)
	@if command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then \
	  echo "building the FHIR validator (Maven) ..."; \
	  cd validator && mvn -B -q -DskipTests package && touch target/edigate-fhir-validator.jar; \
	else \
	  echo "make: Java or Maven not found: the FHIR validator is not built (FHIR validation unavailable)"; \
	fi

validator: $(JAR)

run: $(STAMP) $(JAR)
	$(BIN)/edigate serve --config $(CONFIG)

demo: $(STAMP)
	$(BIN)/edigate demo $(DEMO_ARGS)

test: $(STAMP) $(JAR)
	$(BIN)/ruff format --check edigate notify tests bench
	$(BIN)/ruff check edigate notify tests bench
	$(BIN)/mypy edigate notify tests bench
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check edigate notify tests bench
	$(BIN)/ruff check edigate notify tests bench
	$(BIN)/mypy edigate notify tests bench

bench: $(STAMP) $(JAR)
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_ingest.py

bench-fhir: $(STAMP) $(JAR)
	$(BIN)/python bench/bench_fhir_validator.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info var validator/target
