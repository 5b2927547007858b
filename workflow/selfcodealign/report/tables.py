"""The report's tables as plain rows, and their Markdown and CSV forms."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import atomic_writer
from selfcodealign.train import skip

BENCHMARKS = {"humaneval": "HumanEval+", "mbpp": "MBPP+"}
FUNNEL_COLUMNS = ("stage", "step", "input", "output", "kept (%)", "removed")


class ReportInputError(ValueError):
    """An input file the report cannot use; the message names the file and the problem."""


# --- evaluations ------------------------------------------------------------------------------


def _fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ReportInputError(f"{where}: expected a fraction between 0 and 1, got {value!r}")
    return float(value)


def check_eval(data: Any, source: str) -> dict[str, Any]:
    """``data`` if it is an evaluation summary the report can use, else ReportInputError.

    A model not trained (``not_trained``: the marker of ``selfcodealign.train.skip``) has
    ``pass@1`` null."""
    if not isinstance(data, dict):
        raise ReportInputError(f"{source}: expected a JSON object")
    missing = [key for key in ("model", "benchmark", "prompt", "pass@1") if key not in data]
    if missing:
        raise ReportInputError(f"{source}: missing key(s) {', '.join(missing)}")
    for key in ("model", "benchmark", "prompt"):
        if not isinstance(data[key], str) or not data[key]:
            raise ReportInputError(f"{source}: {key!r} must be a non-empty string")
    if data.get("not_trained") is not None:
        # A training skipped for too few pairs: its marker, and no score.
        try:
            skip.check_marker(data["not_trained"], f'{source}: "not_trained"')
        except ValueError as error:
            raise ReportInputError(str(error)) from error
        if data["pass@1"] is not None:
            raise ReportInputError(f'{source}: a model not trained has no "pass@1" (null)')
        return data
    scores = data["pass@1"]
    if not isinstance(scores, dict) or not {"base", "plus"} <= scores.keys():
        raise ReportInputError(f'{source}: "pass@1" must hold "base" and "plus"')
    _fraction(scores["base"], f'{source}: pass@1 "base"')
    _fraction(scores["plus"], f'{source}: pass@1 "plus"')
    return data


def tidy(value: float) -> float:
    # Drops float noise (0.29 * 100 = 28.999999999999996) yet keeps every real digit.
    return round(value, 10)


def percent(fraction: float) -> float:
    return tidy(100 * float(fraction))


# --- funnel -----------------------------------------------------------------------------------


def _count(step: dict[str, Any], key: str, where: str) -> int:
    value = step.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportInputError(f"{where}: {key!r} must be a count, got {value!r}")
    return value


def check_funnel(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ReportInputError(f'{source}: expected an object with a "steps" list')
    for index, step in enumerate(data["steps"]):
        where = f"{source}: step {index}"
        if not isinstance(step, dict) or "step" not in step:
            raise ReportInputError(f'{where}: expected an object with a "step" name')
        _count(step, "input", where)
        _count(step, "output", where)
        if not isinstance(step.get("removed", {}), dict):
            raise ReportInputError(f'{where}: "removed" must be an object')
    return data


def removed_text(removed: dict[str, int]) -> str:
    """``reason: n; reason: n``, largest first (ties by name)."""
    ordered = sorted(removed.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(f"{reason}: {count}" for reason, count in ordered)


def _kept(input_count: int, output_count: int) -> float | None:
    # Extraction turns files into functions, so "kept" may pass 100%; nothing in means no share.
    return 100 * output_count / input_count if input_count else None


def funnel_rows(stage: str, funnel: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "stage": stage,
            "step": step["step"],
            "input": step["input"],
            "output": step["output"],
            "kept": _kept(step["input"], step["output"]),
            "removed": removed_text(step.get("removed", {})),
        }
        for step in funnel["steps"]
    ]


def funnel_overall(funnels: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """First input of the first stage to the final output of the last (None without steps)."""
    stages = [(stage, funnel) for stage, funnel in funnels.items() if funnel["steps"]]
    if not stages:
        return None
    first_stage, first = stages[0]
    last_stage, last = stages[-1]
    final = last.get("final")
    output = final if isinstance(final, int) else last["steps"][-1]["output"]
    return {
        "stage": "overall",
        "step": f"{first_stage} → {last_stage}",
        "input": first["steps"][0]["input"],
        "output": output,
        "kept": _kept(first["steps"][0]["input"], output),
        "removed": "",
    }


def _funnel_md_row(row: dict[str, Any]) -> list[str]:
    kept = "" if row["kept"] is None else f"{row['kept']:.1f}"
    return [row["stage"], row["step"], str(row["input"]), str(row["output"]), kept, row["removed"]]


def funnel_markdown(rows: list[dict[str, Any]], overall: dict[str, Any] | None) -> str:
    lines = ["# Data funnel", ""]
    if not rows:
        return "\n".join([*lines, "No funnel was given.", ""])
    lines += markdown_table(FUNNEL_COLUMNS, [_funnel_md_row(row) for row in rows])
    if overall:
        kept = "" if overall["kept"] is None else f" ({overall['kept']:.2f}%)"
        lines += [
            "",
            f"Overall ({overall['step']}): {overall['input']} → {overall['output']}{kept}.",
        ]
    lines += [
        "",
        "Counts chain within a stage, not between stages: generation.max_seeds may take a"
        " subset of the seeds, and the responses step counts samples (n per instruction)."
        + (" Extraction counts source files in and functions out." if _extracts(rows) else ""),
        "",
    ]
    return "\n".join(lines)


def _extracts(rows: list[dict[str, Any]]) -> bool:
    return any(row["stage"] == "seeds" and row["step"] == "extract" for row in rows)


def _funnel_csv_row(row: dict[str, Any]) -> list[Any]:
    return [
        row["stage"],
        row["step"],
        row["input"],
        row["output"],
        blank(row["kept"]),
        row["removed"],
    ]


# --- writers ----------------------------------------------------------------------------------


def blank(value: float | None) -> Any:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _cell(value: Any) -> str:
    # A pipe would end the cell early; a newline would end the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def write_text(path: str | Path, text: str) -> None:
    with atomic_writer(path) as handle:
        handle.write(text)


def write_csv(path: str | Path, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with atomic_writer(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)


def write_funnel(
    md: str | Path, csv_path: str | Path, rows: list[dict[str, Any]], overall: dict | None
) -> str:
    text = funnel_markdown(rows, overall)
    write_text(md, text)
    all_rows = [*rows, overall] if overall else rows
    write_csv(csv_path, FUNNEL_COLUMNS, [_funnel_csv_row(row) for row in all_rows])
    return text
