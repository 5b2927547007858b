"""Shared fixtures: repository paths, the HumanEval+ data the repository ships, and the tiny
model; in CI (``CI=true``) a skipped test fails unless it needs a GPU."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skip is a failure: a broken install or a missing service must not pass as
    green. Tests marked ``gpu`` may skip (CI machines have none)."""
    outcome = yield
    report = outcome.get_result()
    allowed = item.get_closest_marker("gpu") is not None or hasattr(report, "wasxfail")
    if os.environ.get("CI") == "true" and report.skipped and not allowed:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true): {report.longrepr}"


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
    import gzip
    import json

    from tiny_model import build_tiny_model

    with gzip.open(HUMANEVALPLUS_MINI, "rt", encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle if line.strip()]
    texts = [task["prompt"] + task["canonical_solution"] for task in tasks]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), texts)
