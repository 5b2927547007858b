"""The paper's tables (1, 8, 9, 10, 11) from a table spec: our pass@1, the paper's, the delta.

A spec (a JSON object the workflow resolves from a table's config) names the table's shape, the
benchmarks, the prompt convention and its rows: each a training or a base model, with the paths
of its evaluation summaries. Scores are pass@1 on the plus tests (HumanEval+, MBPP+) in percent,
as in the paper; the paper's numbers apply to the paper's prompt only. A training skipped for
too few pairs has no score: its cell says ``too few pairs (n < min_pairs)`` instead.

Beside a fine-tuned model's score: how many tasks changed either way against its student base
model (the row's base evaluation, ``base_evals``): ``gained``, the tasks it solves that the base
did not, and ``lost``, the tasks the base solved that it no longer does. A task is solved when its
samples (greedy: one) pass the plus verdict, base and plus tests both, the one pass@1 (plus) is
computed from (``selfcodealign.evaluate.scoring.pass_at_1``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfcodealign.evaluate.scoring import passes_plus
from selfcodealign.jsonl import read_json, read_jsonl
from selfcodealign.report import paper
from selfcodealign.report.tables import (
    BENCHMARKS,
    ReportInputError,
    blank,
    check_eval,
    markdown_table,
    percent,
    tidy,
    write_csv,
    write_text,
)
from selfcodealign.train import skip

SHAPES = ("table1", "table8", "table9", "table10", "table11")
ROW_KINDS = ("training", "model")
DATASET_KINDS = ("generated", "external")
DEFAULT_BENCHMARKS = {"table1": ["humaneval", "mbpp"]}
TITLES = {
    "table1": "Table 1: pass@1 of models and trainings",
    "table8": "Table 8: fine-tuned model × model that generated the data",
    "table9": "Table 9: execution-based selection",
    "table10": "Table 10: seeds and pipeline",
    "table11": "Table 11: data sources",
}
# Table 8's explicit paper key: "<student id>|<generator id>".
TABLE8_KEY_SEPARATOR = "|"


# --- the spec ---------------------------------------------------------------------------------


def parse_spec(text: str) -> dict[str, Any]:
    """The spec given on the command line, checked and with its defaults filled in."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportInputError(f"--spec: not valid JSON: {error}") from error
    return check_spec(spec)


def _string(value: Any, where: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ReportInputError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], where: str, optional: bool = False) -> Any:
    if (value is None and optional) or value in choices:
        return value
    raise ReportInputError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")


def _object(value: Any, where: str, optional: bool = False) -> dict[str, Any] | None:
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise ReportInputError(f"{where}: expected an object, got {value!r}")
    return value


def _model(value: Any, where: str, optional: bool = False) -> dict[str, str] | None:
    model = _object(value, where, optional)
    if model is None:
        return None
    name = _string(model.get("name"), f"{where}.name")
    return {"name": name, "id": _string(model.get("id", name), f"{where}.id")}


def _dataset(value: Any, where: str) -> dict[str, Any] | None:
    dataset = _object(value, where, optional=True)
    if dataset is None:
        return None
    return {
        **dataset,
        "name": _string(dataset.get("name"), f"{where}.name"),
        "kind": _choice(dataset.get("kind"), DATASET_KINDS, f"{where}.kind", optional=True),
        "selection_mode": _string(
            dataset.get("selection_mode"), f"{where}.selection_mode", optional=True
        ),
        "seed_kind": _string(dataset.get("seed_kind"), f"{where}.seed_kind", optional=True),
        "pipeline": _string(dataset.get("pipeline"), f"{where}.pipeline", optional=True),
        "sft": _string(dataset.get("sft"), f"{where}.sft", optional=True),
    }


def _paths(value: Any, where: str) -> dict[str, str]:
    paths = _object({} if value is None else value, where)
    return {bench: _string(path, f"{where}.{bench}") for bench, path in paths.items()}


def _row(value: Any, where: str, benchmarks: list[str]) -> dict[str, Any]:
    row = _object(value, where)
    checked = {
        **row,
        "name": _string(row.get("name"), f"{where}.name"),
        "kind": _choice(row.get("kind"), ROW_KINDS, f"{where}.kind"),
        "label": _string(row.get("label"), f"{where}.label", optional=True),
        "paper": _string(row.get("paper"), f"{where}.paper", optional=True),
        "model": _model(row.get("model"), f"{where}.model"),
        "generator": _model(row.get("generator"), f"{where}.generator", optional=True),
        "dataset": _dataset(row.get("dataset"), f"{where}.dataset"),
        "evals": _paths(row.get("evals"), f"{where}.evals"),
        "base_evals": _paths(row.get("base_evals"), f"{where}.base_evals"),
    }
    missing = [bench for bench in benchmarks if bench not in checked["evals"]]
    if missing:
        raise ReportInputError(f"{where}.evals: no evaluation for {', '.join(missing)}")
    return checked


def check_spec(spec: Any) -> dict[str, Any]:
    """``spec`` with defaults filled in, or ReportInputError naming the offending key."""
    spec = _object(spec, "spec")
    shape = spec.get("shape")
    if shape not in SHAPES:
        raise ReportInputError(
            f"spec.shape: unknown shape {shape!r} (expected one of {', '.join(SHAPES)})"
        )
    benchmarks = spec.get("benchmarks", DEFAULT_BENCHMARKS.get(shape, ["humaneval"]))
    if not isinstance(benchmarks, list) or not benchmarks:
        raise ReportInputError(f"spec.benchmarks: expected a non-empty list, got {benchmarks!r}")
    for index, bench in enumerate(benchmarks):
        _string(bench, f"spec.benchmarks[{index}]")
    if shape == "table8" and len(benchmarks) != 1:
        raise ReportInputError(f"spec.benchmarks: table8 takes one benchmark, got {benchmarks}")
    rows = spec.get("rows")
    if not isinstance(rows, list):
        raise ReportInputError(f"spec.rows: expected a list, got {rows!r}")
    return {
        **spec,
        "table": _string(spec.get("table", shape), "spec.table"),
        "shape": shape,
        "title": _string(spec.get("title"), "spec.title", optional=True),
        "prompt": _string(spec.get("prompt", paper.PAPER_PROMPT), "spec.prompt"),
        "benchmarks": list(benchmarks),
        "rows": [_row(row, f"spec.rows[{i}]", benchmarks) for i, row in enumerate(rows)],
    }


# --- inputs -----------------------------------------------------------------------------------


class Inputs:
    """Evaluation summaries and SFT datasets, each read once however many rows use it."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self._evals: dict[str, dict[str, Any]] = {}
        self._datasets: dict[str, dict[str, Any]] = {}

    def plus(self, path: str, benchmark: str) -> float | None:
        """pass@1 (%) on the plus tests of the evaluation at ``path`` (None: not trained)."""
        data = self._eval(path, benchmark)
        return None if data.get("not_trained") else percent(data["pass@1"]["plus"])

    def not_trained(self, path: str, benchmark: str) -> dict[str, Any] | None:
        """The skip marker of the evaluation at ``path``: its model was never trained."""
        return self._eval(path, benchmark).get("not_trained")

    def solved(self, path: str, benchmark: str) -> dict[str, bool] | None:
        """Per task of the evaluation at ``path``: solved on the plus verdict (every sample
        passes the base and the plus tests). None where there are no per-task results: a model
        not trained, or a summary without them."""
        data = self._eval(path, benchmark)
        tasks = data.get("tasks")
        if data.get("not_trained") or not tasks:
            return None
        if not isinstance(tasks, dict):
            raise ReportInputError(f'{path}: "tasks" must map task ids to their samples')
        solved = {}
        for task, samples in tasks.items():
            if not isinstance(samples, list) or not all(
                isinstance(sample, dict) and {"base", "plus"} <= sample.keys() for sample in samples
            ):
                raise ReportInputError(
                    f'{path}: task {task!r}: expected a list of samples with "base" and "plus"'
                )
            solved[task] = bool(samples) and all(map(passes_plus, samples))
        return solved

    def dataset_md5(self, path: str, benchmark: str) -> str | None:
        return self._eval(path, benchmark).get("dataset_md5")

    def _eval(self, path: str, benchmark: str) -> dict[str, Any]:
        if path not in self._evals:
            try:
                data = read_json(path)
            except json.JSONDecodeError as error:
                raise ReportInputError(f"{path}: not valid JSON: {error}") from error
            self._evals[path] = check_eval(data, path)
        data = self._evals[path]
        if data["benchmark"] != benchmark:
            raise ReportInputError(
                f"{path}: benchmark is {data['benchmark']!r}, expected {benchmark!r}"
            )
        if data["prompt"] != self.prompt:
            raise ReportInputError(
                f"{path}: prompt is {data['prompt']!r}, the table's is {self.prompt!r}"
            )
        return data

    def dataset(self, path: str) -> dict[str, Any]:
        """Size and pass rate (%, samples whose execution passed) of an SFT dataset."""
        if path not in self._datasets:
            size = passed = executed = 0
            try:
                for record in read_jsonl(path):
                    size += 1
                    status = record.get("execution_status") if isinstance(record, dict) else None
                    executed += status is not None
                    passed += status == "passed"
            except ValueError as error:  # A line that is not JSON; the message names it.
                raise ReportInputError(str(error)) from error
            # Data made elsewhere (external) was never executed here: no pass rate, not 0.
            rate = tidy(100 * passed / executed) if executed else None
            self._datasets[path] = {"data_size": size, "pass_rate": rate}
        return self._datasets[path]


# --- rows -------------------------------------------------------------------------------------


def score(ours: float | None, paper_value: Any) -> dict[str, Any]:
    """Ours, the paper's and ours − paper (None where either is missing)."""
    theirs = None if paper_value is None else float(paper_value)
    delta = None if ours is None or theirs is None else tidy(ours - theirs)
    return {"ours": ours, "paper": theirs, "delta": delta}


def evaluated(inputs: Inputs, path: str, bench: str, paper_value: Any) -> dict[str, Any]:
    """``score`` of the evaluation at ``path``, and its ``eval``; for a training skipped for
    too few pairs no score but ``not_trained`` (pairs, min_pairs) and the cell's ``note``."""
    cell = {**score(inputs.plus(path, bench), paper_value), "eval": path}
    marker = inputs.not_trained(path, bench)
    if marker:
        cell["not_trained"] = {key: marker[key] for key in ("reason", "pairs", "min_pairs")}
        cell["note"] = skip.describe(marker)
    return cell


def versus_base(
    inputs: Inputs, path: str, base_path: str, base_model: str, bench: str
) -> dict[str, Any]:
    """The fine-tuned model at ``path`` against its student base model at ``base_path``: the
    base's name, evaluation and pass@1 (%), ``gained`` (tasks solved that the base did not) and
    ``lost`` (tasks the base solved, no longer solved), over ``tasks`` tasks. The counts are None
    where either side has no per-task results (a model not trained)."""
    result = {
        "model": base_model,
        "eval": base_path,
        "pass@1": inputs.plus(base_path, bench),
        "gained": None,
        "lost": None,
        "tasks": None,
    }
    mine, theirs = inputs.solved(path, bench), inputs.solved(base_path, bench)
    if mine is None or theirs is None:
        return result
    digests = {inputs.dataset_md5(p, bench) for p in (path, base_path)} - {None}
    if len(digests) > 1 or mine.keys() != theirs.keys():
        raise ReportInputError(
            f"{path}: not evaluated on the same tasks as its base model's {base_path}"
        )
    result.update(
        gained=sum(mine[task] and not theirs[task] for task in mine),
        lost=sum(theirs[task] and not mine[task] for task in mine),
        tasks=len(mine),
    )
    return result


def _with_base(
    cell: dict[str, Any], row: dict[str, Any], inputs: Inputs, bench: str
) -> dict[str, Any]:
    """A training's cell with ``vs_base`` (None without its base model's evaluation)."""
    if row["kind"] != "training":
        return cell
    base_path = row["base_evals"].get(bench)
    vs_base = None
    if base_path:
        vs_base = versus_base(inputs, row["evals"][bench], base_path, row["model"]["name"], bench)
    return {**cell, "vs_base": vs_base}


def _same_model(a: dict[str, str], b: dict[str, str]) -> bool:
    return a["name"] == b["name"] or paper.match_model(a["id"], {b["id"]: None}) is not None


def _self_generated(row: dict[str, Any]) -> bool:
    """A training on data its own student generated (the paper's SelfCodeAlign setting)."""
    dataset = row["dataset"] or {}
    if dataset.get("kind") == "external":
        return False
    return row["generator"] is None or _same_model(row["generator"], row["model"])


def _scores(
    row: dict[str, Any], spec: dict[str, Any], inputs: Inputs, entry: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    entry = entry or {}
    return {
        bench: _with_base(
            evaluated(inputs, row["evals"][bench], bench, entry.get(bench)), row, inputs, bench
        )
        for bench in spec["benchmarks"]
    }


def _base(row: dict[str, Any]) -> dict[str, Any]:
    """The cells every row of a summary carries."""
    dataset = row["dataset"] or {}
    return {
        "name": row["name"],
        "kind": row["kind"],
        "label": row["label"] or row["name"],
        "model": row["model"]["name"],
        "model_id": row["model"]["id"],
        "generator": (row["generator"] or {}).get("name"),
        "dataset": dataset.get("name"),
    }


def table1_rows(
    spec: dict[str, Any], inputs: Inputs, numbers: paper.Numbers | None = None
) -> list[dict[str, Any]]:
    rows = []
    for row in spec["rows"]:
        found = None
        if spec["prompt"] == paper.PAPER_PROMPT:
            found = paper.table1_entry(
                row["paper"], row["kind"], row["model"]["id"], _self_generated(row), numbers
            )
        rows.append(
            {
                **_base(row),
                "paper_key": found[0] if found else None,
                "scores": _scores(row, spec, inputs, found[1] if found else None),
            }
        )
    return rows


def _selection_key(row: dict[str, Any]) -> str | None:
    return (row["dataset"] or {}).get("selection_mode")


def _seed_key(row: dict[str, Any]) -> str | None:
    dataset = row["dataset"] or {}
    seeds, pipeline = dataset.get("seed_kind"), dataset.get("pipeline")
    return f"{seeds}/{pipeline}" if seeds and pipeline else None


def _source_key(row: dict[str, Any]) -> str | None:
    return (row["dataset"] or {}).get("name")


def _seed_label(row: dict[str, Any]) -> str:
    dataset = row["dataset"] or {}
    seeds, pipeline = dataset.get("seed_kind"), dataset.get("pipeline")
    return f"{seeds or '?'} × {pipeline or '?'}" if seeds or pipeline else row["name"]


# Per shape of Tables 9-11: the derived paper key and the default row label.
KEYED_SHAPES: dict[str, tuple[Callable, Callable]] = {
    "table9": (_selection_key, lambda row: _selection_key(row) or row["name"]),
    "table10": (_seed_key, _seed_label),
    "table11": (_source_key, lambda row: _source_key(row) or row["name"]),
}


def keyed_rows(
    spec: dict[str, Any], inputs: Inputs, numbers: paper.Numbers | None = None
) -> list[dict[str, Any]]:
    """Rows of Tables 9, 10 and 11: one per training, the paper's row found by a key."""
    derive, label = KEYED_SHAPES[spec["shape"]]
    rows = []
    for row in spec["rows"]:
        found = None
        if spec["prompt"] == paper.PAPER_PROMPT:
            found = paper.table_entry(spec["shape"], row["paper"] or derive(row), numbers)
        entry = found[1] if found else {}
        sft = (row["dataset"] or {}).get("sft")
        data = inputs.dataset(sft) if sft else {"data_size": None, "pass_rate": None}
        dataset = row["dataset"] or {}
        rows.append(
            {
                **_base(row),
                "label": row["label"] or label(row),
                "selection_mode": dataset.get("selection_mode"),
                "seed_kind": dataset.get("seed_kind"),
                "pipeline": dataset.get("pipeline"),
                "paper_key": found[0] if found else None,
                "data_size": score(data["data_size"], entry.get("data_size")),
                "pass_rate": score(data["pass_rate"], entry.get("pass_rate")),
                "scores": _scores(row, spec, inputs, entry),
            }
        )
    return rows


def _table8_key(row: dict[str, Any]) -> tuple[str, str | None]:
    """(student id, generator id) of the paper's cell for a Table 8 row."""
    if row["paper"]:
        student, _, generator = row["paper"].partition(TABLE8_KEY_SEPARATOR)
        return student.strip(), generator.strip() or None
    return row["model"]["id"], (row["generator"] or {}).get("id")


def _model_order(spec: dict[str, Any], numbers: paper.Numbers | None) -> list[str]:
    """Model names: Table 8's models in the paper's order, then the others as they come."""
    ids: dict[str, str] = {}
    for row in spec["rows"]:
        for model in (row["model"], row["generator"]):
            if model:
                ids.setdefault(model["name"], model["id"])
    order = {model_id: index for index, model_id in enumerate(paper.table8_order(numbers))}

    def rank(item: tuple[int, str]) -> tuple[int, int]:
        index, name = item
        key = paper.match_model(ids[name], order)
        return (order[key] if key is not None else len(order), index)

    return [name for _, name in sorted(enumerate(ids), key=rank)]


def table8_matrix(
    spec: dict[str, Any], inputs: Inputs, numbers: paper.Numbers | None = None
) -> dict[str, Any]:
    """Students × generators: each cell one training's pass@1, each student's base score."""
    (bench,) = spec["benchmarks"]
    known = spec["prompt"] == paper.PAPER_PROMPT and bench == "humaneval"
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    base: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    for index, row in enumerate(spec["rows"]):
        where = f"spec.rows[{index}]"
        student = row["model"]["name"]
        ids.setdefault(student, row["model"]["id"])
        base_path = row["evals"][bench] if row["kind"] == "model" else row["base_evals"].get(bench)
        if base_path and student not in base:
            paper_base = paper.table8_base(row["model"]["id"], numbers) if known else None
            base[student] = evaluated(inputs, base_path, bench, paper_base)
        if row["kind"] == "model":
            continue
        if row["generator"] is None:
            raise ReportInputError(
                f"{where}.generator: table8 needs the model that generated the data"
            )
        generator = row["generator"]["name"]
        if (student, generator) in cells:
            other = cells[student, generator]["name"]
            raise ReportInputError(
                f"{where}: a second training of {student} on data from {generator} ({other})"
            )
        student_id, generator_id = _table8_key(row)
        paper_cell = None
        if known and generator_id:
            paper_cell = paper.table8_cell(student_id, generator_id, numbers)
        cells[student, generator] = {
            **_base(row),
            "student": student,
            "paper_key": f"{student_id}{TABLE8_KEY_SEPARATOR}{generator_id}",
            **_with_base(
                evaluated(inputs, row["evals"][bench], bench, paper_cell), row, inputs, bench
            ),
        }
    order = _model_order(spec, numbers)
    students = [name for name in order if name in ids]
    generators = [name for name in order if any(g == name for _, g in cells)]
    for student in students:
        if student not in base and known:
            # No base evaluation of ours: the paper's base score still heads the row.
            base[student] = {**score(None, paper.table8_base(ids[student], numbers)), "eval": None}
    return {
        "benchmark": bench,
        "students": students,
        "generators": generators,
        "base": {student: base.get(student) for student in students},
        "cells": [[cells.get((s, g)) for g in generators] for s in students],
    }


# --- Markdown and CSV -------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _delta(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}"


def _size(value: float | None) -> str:
    return "" if value is None else f"{value / 1000:.1f}k"


def _bench(bench: str) -> str:
    return BENCHMARKS.get(bench, bench)


def _ours(cell: dict[str, Any]) -> str:
    """Our score as a Markdown cell, or why there is none (a training not run)."""
    return cell.get("note") or _num(cell.get("ours"))


def _csv_triple(cell: dict[str, Any] | None) -> list[Any]:
    """Ours (or why there is none), the paper's and the delta as CSV cells (blank if missing)."""
    cell = cell or {}
    ours = cell.get("note") or blank(cell.get("ours"))
    return [ours, blank(cell.get("paper")), blank(cell.get("delta"))]


def _versus(cell: dict[str, Any] | None) -> str:
    """``+gained / -lost`` against the student base model as a Markdown cell; ``–`` for a model
    not trained (no counts, not 0); empty without a comparison."""
    vs_base = (cell or {}).get("vs_base")
    if not vs_base:
        return ""
    if vs_base["gained"] is None:
        return "–" if cell.get("not_trained") else ""
    return f"+{vs_base['gained']} / -{vs_base['lost']}"


def _csv_versus(cell: dict[str, Any] | None) -> list[Any]:
    """Gained and lost against the base model as CSV cells (blank where there are none)."""
    vs_base = (cell or {}).get("vs_base") or {}
    return [blank(vs_base.get("gained")), blank(vs_base.get("lost"))]


def _versus_headers(name: str) -> list[str]:
    return [f"{name} gained vs base", f"{name} lost vs base"]


def _score_headers(benchmarks: list[str], csv: bool, versus: bool = True) -> list[str]:
    headers = []
    for bench in benchmarks:
        name = _bench(bench)
        if csv:
            headers += [f"{name} pass@1 (%)", f"{name} paper (%)", f"{name} delta"]
            headers += [*_versus_headers(name), f"{name} base pass@1 (%)"]
        else:
            headers += [f"{name} (%)", "paper", "Δ", *(["vs base"] if versus else [])]
    return headers


def _score_cells(
    row: dict[str, Any], benchmarks: list[str], csv: bool, versus: bool = True
) -> list[Any]:
    cells: list[Any] = []
    for bench in benchmarks:
        s = row["scores"][bench]
        if csv:
            base = (s.get("vs_base") or {}).get("pass@1")
            cells += [*_csv_triple(s), *_csv_versus(s), blank(base)]
        else:
            cells += [_ours(s), _num(s["paper"]), _delta(s["delta"])]
            cells += [_versus(s)] if versus else []
    return cells


def _has_trainings(rows: list[dict[str, Any]]) -> bool:
    """Whether a table's Markdown gets the ``vs base`` column: a training among its rows."""
    return any(row["kind"] == "training" for row in rows)


def table1_layout(rows: list[dict[str, Any]], benchmarks: list[str], csv: bool):
    headers = ["row", "kind", "model", "paper row"] if csv else ["Row", "Kind", "Model", "Paper"]
    versus = _has_trainings(rows)
    body = [
        [
            row["label"],
            row["kind"],
            row["model_id"] if csv else row["model"],
            row["paper_key"] or "",
            *_score_cells(row, benchmarks, csv, versus),
        ]
        for row in rows
    ]
    if csv:
        headers.insert(1, "name")
        for line, row in zip(body, rows, strict=True):
            line.insert(1, row["name"])
    return [*headers, *_score_headers(benchmarks, csv, versus)], body


def _data_cells(row: dict[str, Any], csv: bool) -> list[Any]:
    size, rate = row["data_size"], row["pass_rate"]
    if csv:
        return [*_csv_triple(size)[:2], *_csv_triple(rate)[:2]]
    ours = "" if size["ours"] is None else str(size["ours"])
    return [ours, _size(size["paper"]), _num(rate["ours"]), _num(rate["paper"])]


DATA_HEADERS = {
    True: ["data size", "paper data size", "pass rate (%)", "paper pass rate (%)"],
    False: ["Data size", "paper", "Pass rate (%)", "paper"],
}
KEYED_HEADERS = {
    "table9": ("Selection mode", "selection_mode"),
    "table10": ("Seeds × pipeline", "seed_kind"),
    "table11": ("Data source", "dataset"),
}


def keyed_layout(shape: str, rows: list[dict[str, Any]], benchmarks: list[str], csv: bool):
    first, _ = KEYED_HEADERS[shape]
    if csv:
        headers = [first.lower(), "training", "model", "dataset", "selection_mode"]
        headers += ["seed_kind", "pipeline", "paper key", *DATA_HEADERS[True]]
        body = [
            [
                row["label"],
                row["name"],
                row["model_id"],
                row["dataset"] or "",
                row["selection_mode"] or "",
                row["seed_kind"] or "",
                row["pipeline"] or "",
                row["paper_key"] or "",
                *_data_cells(row, True),
                *_score_cells(row, benchmarks, True),
            ]
            for row in rows
        ]
        return [*headers, *_score_headers(benchmarks, True)], body
    data = shape != "table10"  # Table 10 compares seeds and pipelines, not data sizes.
    versus = _has_trainings(rows)
    headers = [first, "Training", *(DATA_HEADERS[False] if data else [])]
    body = [
        [
            row["label"],
            row["name"],
            *(_data_cells(row, False) if data else []),
            *_score_cells(row, benchmarks, False, versus),
        ]
        for row in rows
    ]
    return [*headers, *_score_headers(benchmarks, False, versus)], body


def _pair(cell: dict[str, Any] | None) -> str:
    """``ours / paper (Δ)``, ``ours``, or ``paper`` alone in brackets when we have none."""
    if not cell:
        return ""
    if cell.get("note"):
        return cell["note"] if cell["paper"] is None else f"{cell['note']} / {cell['paper']:.1f}"
    if cell["ours"] is None:
        return "" if cell["paper"] is None else f"– / {cell['paper']:.1f}"
    if cell["paper"] is None:
        return f"{cell['ours']:.1f}"
    return f"{cell['ours']:.1f} / {cell['paper']:.1f} ({cell['delta']:+.1f})"


def _matrix_cell(cell: dict[str, Any] | None) -> str:
    """``_pair`` and, in square brackets, the tasks gained and lost against the base model."""
    pair = _pair(cell)
    vs_base = (cell or {}).get("vs_base") or {}
    if vs_base.get("gained") is None:
        return pair  # A model not trained says so already.
    return f"{pair} [{_versus(cell)}]"


def table8_layout(matrix: dict[str, Any], csv: bool):
    if csv:
        headers = ["fine-tuned", "base pass@1 (%)", "base paper (%)", "base delta"]
        for generator in matrix["generators"]:
            headers += [f"{generator} pass@1 (%)", f"{generator} paper (%)", f"{generator} delta"]
            headers += _versus_headers(generator)
        body = []
        for student, cells in zip(matrix["students"], matrix["cells"], strict=True):
            line = [student, *_csv_triple(matrix["base"][student])]
            for cell in cells:
                line += [*_csv_triple(cell), *_csv_versus(cell)]
            body.append(line)
        return headers, body
    headers = ["fine-tuned \\ data from", *matrix["generators"]]
    body = []
    for student, cells in zip(matrix["students"], matrix["cells"], strict=True):
        base = _pair(matrix["base"][student])
        body.append([f"{student} (base {base})" if base else student, *map(_matrix_cell, cells)])
    return headers, body


def _cells(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A row's score cells: one per benchmark, or the row itself (a cell of Table 8)."""
    return list((row.get("scores") or {"": row}).values())


def _untrained(result: dict[str, Any]) -> bool:
    return any("not_trained" in cell for row in result["rows"] for cell in _cells(row))


def _notes(spec: dict[str, Any], result: dict[str, Any]) -> list[str]:
    benches = ", ".join(_bench(b) for b in spec["benchmarks"])
    if spec["prompt"] == paper.PAPER_PROMPT:
        where = "the SelfCodeAlign paper's numbers for the same setting; Δ = ours − paper"
    else:
        where = (
            f"the paper reports no numbers for the {spec['prompt']!r} prompt, so its columns"
            " stay empty"
        )
    lines = [
        f"pass@1 (%, greedy) on the plus tests ({benches}), {spec['prompt']} prompt; {where}."
        " An empty paper column means the paper has no such number."
    ]
    if spec["shape"] == "table8":
        lines.append(
            "Each cell: ours / paper (Δ). Rows: the fine-tuned model, its base score in brackets;"
            " columns: the model that generated the data; an empty cell: no such training."
        )
    if any("vs_base" in cell for row in result["rows"] for cell in _cells(row)):
        matrix = spec["shape"] == "table8"
        missing = (
            "no brackets: no counts (no model trained, or no base evaluation or per-task"
            " results to compare with)"
            if matrix
            else "–: no model was trained, so no counts; empty: no evaluation of the base model,"
            " or no per-task results, to compare with"
        )
        lines.append(
            f"{'In square brackets' if matrix else 'vs base'}, +g / -l: per benchmark, the"
            " fine-tuned model solves g tasks its student base model did not and no longer"
            " solves l tasks the base did; a task is solved when its greedy sample passes the"
            " plus verdict (base and plus tests both), the verdict pass@1 is computed from;"
            f" {missing}."
        )
    if _untrained(result):
        lines.append(
            "too few pairs (n < m): the training's dataset had n usable pairs, fewer than its"
            " recipe's min_pairs m, so no model was trained and there is no score."
        )
    if spec["shape"] == "table9":
        lines.append(
            "Pass rate: share of the data's samples whose tests passed in the sandbox. The"
            " paper reports data sizes rounded to 0.1k."
        )
    return lines


def layout(spec: dict[str, Any], result: dict[str, Any], csv: bool):
    shape = spec["shape"]
    if shape == "table8":
        return table8_layout(result["matrix"], csv)
    if shape == "table1":
        return table1_layout(result["rows"], spec["benchmarks"], csv)
    return keyed_layout(shape, result["rows"], spec["benchmarks"], csv)


def table_markdown(spec: dict[str, Any], result: dict[str, Any]) -> str:
    lines = [f"# {spec['title'] or TITLES[spec['shape']]}", ""]
    if not spec["rows"]:
        return "\n".join([*lines, "The table has no rows.", ""])
    headers, body = layout(spec, result, csv=False)
    lines += markdown_table(headers, body)
    lines += ["", *_notes(spec, result), ""]
    return "\n".join(lines)


def build_table(spec: dict[str, Any], numbers: paper.Numbers | None = None) -> dict[str, Any]:
    """Every computed row of the table (and Table 8's matrix), reading the spec's inputs."""
    inputs = Inputs(spec["prompt"])
    if spec["shape"] == "table8":
        matrix = table8_matrix(spec, inputs, numbers)
        rows = [cell for line in matrix["cells"] for cell in line if cell]
        return {"rows": rows, "matrix": matrix}
    if spec["shape"] == "table1":
        return {"rows": table1_rows(spec, inputs, numbers)}
    return {"rows": keyed_rows(spec, inputs, numbers)}


def write_table(
    spec: dict[str, Any], result: dict[str, Any], md: str | Path, csv_path: str | Path
) -> str:
    """Write the Markdown and CSV forms; return the Markdown."""
    text = table_markdown(spec, result)
    write_text(md, text)
    headers, body = layout(spec, result, csv=True)
    write_csv(csv_path, headers, body)
    return text


def bar_groups(spec: dict[str, Any], result: dict[str, Any]) -> list[tuple[str, list[tuple]]]:
    """(group label, [(series, ours, paper, note)]) for the bar chart of ours vs the paper; the
    note says why a bar of ours is missing (a training not run), else None."""
    if spec["shape"] == "table8":
        matrix = result["matrix"]
        return [
            (
                student,
                [
                    (generator, cell["ours"], cell["paper"], cell.get("note"))
                    for generator, cell in zip(matrix["generators"], cells, strict=True)
                    if cell
                ],
            )
            for student, cells in zip(matrix["students"], matrix["cells"], strict=True)
        ]
    return [
        (
            row["label"],
            [
                (
                    _bench(bench),
                    row["scores"][bench]["ours"],
                    row["scores"][bench]["paper"],
                    row["scores"][bench].get("note"),
                )
                for bench in spec["benchmarks"]
            ],
        )
        for row in result["rows"]
    ]


def heatmap_data(result: dict[str, Any]) -> dict[str, Any]:
    """Our and the paper's pass@1 per (student, generator), NaN where there is none, and the
    note of a cell whose training was not run (else None)."""
    matrix = result["matrix"]

    def value(cell: dict[str, Any] | None, key: str) -> float:
        return math.nan if not cell or cell[key] is None else cell[key]

    labels = []
    for student in matrix["students"]:
        base = matrix["base"][student] or {}
        ours, theirs = base.get("ours"), base.get("paper")
        if ours is None and theirs is None:
            labels.append(student)
        else:
            paper_part = "" if theirs is None else f" / {theirs:.1f}"
            labels.append(f"{student} ({_num(ours) or '–'}{paper_part})")
    return {
        "rows": labels,
        "columns": list(matrix["generators"]),
        "ours": [[value(cell, "ours") for cell in cells] for cells in matrix["cells"]],
        "paper": [[value(cell, "paper") for cell in cells] for cells in matrix["cells"]],
        "notes": [[(cell or {}).get("note") for cell in cells] for cells in matrix["cells"]],
    }
