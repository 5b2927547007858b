"""The SelfCodeAlign paper's numbers (paper_numbers.yaml), looked up per paper table."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from selfcodealign.package_data import data_file

PAPER_NUMBERS = data_file("report", "paper_numbers.yaml")
# The paper reports numbers for its own prompt only.
PAPER_PROMPT = "paper"

Numbers = dict[str, Any]


@functools.cache
def load_paper_numbers(path: str | Path = PAPER_NUMBERS) -> Numbers:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _last_component(name: str) -> str:
    return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1].lower()


def match_model(name: str, numbers: dict[str, Any]) -> str | None:
    """The paper key for the model ``name``: exact, then case-insensitive, then by last path
    component.

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


def match_key(name: str, numbers: dict[str, Any]) -> str | None:
    """The paper key equal to ``name`` but for case (keys that are not model ids)."""
    lowered = {key.lower(): key for key in numbers}
    return lowered.get(name.lower())


def _section(table: str, numbers: Numbers | None) -> dict[str, Any]:
    numbers = load_paper_numbers() if numbers is None else numbers
    return numbers.get(table) or {}


def table1_entry(
    explicit: str | None,
    kind: str,
    model_id: str | None,
    self_generated: bool,
    numbers: Numbers | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """(paper row name, its numbers by benchmark) of a Table 1 row, or None.

    An explicit key names a paper row (or a model id of the row's own kind); otherwise a model
    row is found by its id and a training row by its student's id, when the student was trained
    on data it generated itself.
    """
    table = _section("table1", numbers)
    own = table.get(kind) or {}
    if explicit:
        entries = [entry for section in table.values() for entry in (section or {}).values()]
        for entry in entries:
            if str(entry.get("name", "")).lower() == explicit.lower():
                return str(entry["name"]), entry
        key = match_model(explicit, own)
        return (str(own[key].get("name", key)), own[key]) if key else None
    if not model_id or (kind == "training" and not self_generated):
        return None
    key = match_model(model_id, own)
    return (str(own[key].get("name", key)), own[key]) if key else None


def table8_cell(student_id: str, generator_id: str, numbers: Numbers | None = None) -> float | None:
    """The paper's HumanEval+ for ``student_id`` fine-tuned on ``generator_id``'s data."""
    cells = _section("table8", numbers).get("cells") or {}
    student = match_model(student_id, cells)
    if student is None:
        return None
    generator = match_model(generator_id, cells[student] or {})
    return None if generator is None else float(cells[student][generator])


def table8_base(student_id: str, numbers: Numbers | None = None) -> float | None:
    base = _section("table8", numbers).get("base") or {}
    key = match_model(student_id, base)
    return None if key is None else float(base[key])


def table8_order(numbers: Numbers | None = None) -> list[str]:
    """The Hub ids of Table 8's models, in the paper's row and column order."""
    return list(_section("table8", numbers).get("names") or {})


def table_entry(
    table: str, key: str | None, numbers: Numbers | None = None
) -> tuple[str, dict[str, Any]] | None:
    """(key, entry) of Tables 9-11, whose keys are plain names."""
    entries = _section(table, numbers)
    match = match_key(key, entries) if key else None
    return None if match is None else (match, entries[match])
