"""Counts of what each step kept and why it removed the rest.

Each step writes a small JSON file (its ``StepCounts``); the stage's gather step joins them, in
pipeline order, into ``funnel.json``. Shards of one step are summed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from selfcodealign.jsonl import read_json, write_json


@dataclass
class StepCounts:
    """What one step (or one shard of it) saw, kept, and removed by reason."""

    step: str
    input: int = 0
    output: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    def keep(self) -> None:
        self.input += 1
        self.output += 1

    def drop(self, reason: str) -> None:
        self.input += 1
        self.removed[reason] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "input": self.input,
            "output": self.output,
            "removed": dict(sorted(self.removed.items(), key=lambda kv: (-kv[1], kv[0]))),
            **({"extra": self.extra} if self.extra else {}),
        }

    def save(self, path: str) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepCounts:
        return cls(
            step=data["step"],
            input=data["input"],
            output=data["output"],
            removed=Counter(data.get("removed", {})),
            extra=dict(data.get("extra", {})),
        )

    @classmethod
    def load(cls, path: str) -> StepCounts:
        return cls.from_dict(read_json(path))


def merge_counts(parts: Iterable[StepCounts]) -> StepCounts:
    """Sum the counts of the shards of one step; numeric extras are summed too."""
    parts = list(parts)
    if not parts:
        raise ValueError("no counts to merge")
    steps = {part.step for part in parts}
    if len(steps) != 1:
        raise ValueError(f"cannot merge counts of different steps: {sorted(steps)}")
    total = StepCounts(step=parts[0].step)
    for part in parts:
        total.input += part.input
        total.output += part.output
        total.removed.update(part.removed)
        for key, value in part.extra.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total.extra[key] = total.extra.get(key, 0) + value
            else:
                total.extra.setdefault(key, value)
    return total


def build_funnel(steps: Iterable[StepCounts]) -> dict[str, Any]:
    """Join step counts (in pipeline order) into one funnel, checking that they chain."""
    steps = list(steps)
    rows = [step.to_dict() for step in steps]
    for previous, current in zip(rows, rows[1:], strict=False):
        if current["input"] != previous["output"]:
            raise ValueError(
                f"funnel does not chain: {previous['step']} kept {previous['output']} "
                f"but {current['step']} saw {current['input']}"
            )
    return {
        "steps": rows,
        "final": rows[-1]["output"] if rows else 0,
    }
