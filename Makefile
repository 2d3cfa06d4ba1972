# `make demo` and `make test` each create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow lint bench clean

$(BIN)/anyopt: pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(BIN)/anyopt

demo: $(BIN)/anyopt
	$(BIN)/anyopt demo

lint: $(BIN)/anyopt
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: lint
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# The exhaustive matrices and optax's own test files (tests marked slow).
test-slow: $(BIN)/anyopt
	$(BIN)/python -m pytest -n 2 -q -m slow

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache

bench: $(BIN)/anyopt
	$(BIN)/anyopt bench
