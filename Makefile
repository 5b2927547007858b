# Set-up and checks. `make demo` runs the pipeline on the embedded CPU demo; `make test` runs
# every check. Both create the virtual environment in .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint unit install clean

install: $(BIN)/.installed

# torch first, pinned: this version is the lean CPU build on the project's CPU machines.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	snakemake --configfile config/demo.yaml --cores $(CORES)

lint: install
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint --configfile config/demo.yaml
	snakemake --lint

unit: install
	pytest

test: lint unit

clean:
	rm -rf results/demo .snakemake
