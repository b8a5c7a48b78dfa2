# kalshibot make targets (see docs and CONTRACTS in README)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?= 60

.PHONY: demo test bench chaos lint fmt clean install install-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'

demo: install
	$(BIN)/kalshibot demo --duration $(DURATION)

test: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench

chaos: install-test
	$(BIN)/python -m tests.chaos

fmt: install-test
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
