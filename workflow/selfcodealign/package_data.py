"""The data files the package ships with it: prompts, the config schema, accelerate configs,
the paper's numbers. They live inside the package, so an installed wheel, a conda env and a
container image read the same files as a checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# Globs relative to the package, the same list pyproject.toml ships as package data.
DATA_GLOBS = [
    "prompts/*.yaml",
    "schemas/*.yaml",
    "accelerate/*.yaml",
    "report/*.yaml",
    "py.typed",
]


def data_file(*parts: str) -> Path:
    """A data file of the package, e.g. ``data_file("prompts", "fewshot_pool.yaml")``."""
    return PACKAGE_DIR.joinpath(*parts)


def data_files() -> list[Path]:
    """Every data file the package ships."""
    return sorted({path for pattern in DATA_GLOBS for path in PACKAGE_DIR.glob(pattern)})
