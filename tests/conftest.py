"""Shared fixtures: repository paths, the HumanEval+ data the repository ships, and the tiny
model; in CI (``CI=true``) a skipped test fails unless it needs a GPU."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from ci_skips import pytest_runtest_makereport  # noqa: F401  (the CI=true hook)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SELFCODEALIGN_SHARED", REPO.parent / "shared"))
# The full file is optional (checked where present); the Mini file ships with the repository:
# the same 164 prompts and canonical solutions, fewer plus tests.
HUMANEVALPLUS = SHARED / "data" / "humanevalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
HUMANEVALPLUS_MINI = REPO / "resources" / "humanevalplus" / "HumanEvalPlus-Mini-v0.1.10.jsonl.gz"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def humanevalplus() -> Path:
    """HumanEval+ tasks with their canonical solutions (the shipped Mini file)."""
    return HUMANEVALPLUS_MINI


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow to ``dest``, so a test's results never touch the repository."""
    for name in ("Snakefile", "workflow", "config", "envs", "profiles", "resources"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, dest / name)
    return dest


def snakemake_env() -> dict[str, str]:
    """The environment for a snakemake subprocess: this interpreter's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A random-init Qwen2 with a BPE tokenizer trained on fixed text (the shipped HumanEval+
    prompts and solutions), so that no edit of the code changes the model."""
    from tiny_model import build_tiny_model, fixed_texts

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), fixed_texts())
