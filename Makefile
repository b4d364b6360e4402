# The two commands a new user needs: `make demo` and `make test`.
# Both create (or reuse) .venv and install perfgate into it first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-seed test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Build a small example repository with a planted regression and gate it.
demo: $(STAMP)
	$(BIN)/python examples/demo/run_demo.py

## The seed's five problems, one commit each, each named by the gate.
demo-seed: $(STAMP)
	$(BIN)/python examples/seed-story/run.py

## Run the test suite with coverage (kept above 90%).
test: $(STAMP)
	$(BIN)/python -m pytest --cov=perfgate --cov-report=term-missing --cov-fail-under=90 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest_cache build src/*.egg-info
