"""The SelfCodeAlign paper's pass@1 numbers, looked up by base model, benchmark and prompt."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

PAPER_NUMBERS = Path(__file__).with_name("paper_numbers.yaml")
# The paper reports numbers for its own prompt only.
PAPER_PROMPT = "paper"


@functools.cache
def load_paper_numbers(path: str | Path = PAPER_NUMBERS) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _last_component(name: str) -> str:
    return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1].lower()


def match_model(name: str, numbers: dict[str, dict[str, Any]]) -> str | None:
    """The paper key for ``name``: exact, then case-insensitive, then by last path component.

    The last rule lets a local copy (``/models/CodeQwen1.5-7B``) stand for the hub id.
    """
    if name in numbers:
        return name
    lowered = {key.lower(): key for key in numbers}
    if name.lower() in lowered:
        return lowered[name.lower()]
    tail = _last_component(name)
    matches = [key for key in numbers if _last_component(key) == tail]
    # Two hub ids with the same last component would make the match a guess.
    return matches[0] if len(matches) == 1 else None


def paper_number(
    base_model_name: str | None,
    model_kind: str,
    benchmark: str,
    prompt: str,
    numbers: dict[str, dict[str, Any]] | None = None,
) -> tuple[float, str] | None:
    """The paper's pass@1 (%, plus tests) and its source, or None where it has none."""
    if prompt != PAPER_PROMPT or not base_model_name:
        return None
    numbers = load_paper_numbers() if numbers is None else numbers
    key = match_model(base_model_name, numbers)
    if key is None:
        return None
    entry = numbers[key]
    value = (entry.get(model_kind) or {}).get(benchmark)
    return None if value is None else (float(value), str(entry.get("source", "")))
