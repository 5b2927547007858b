"""The report stage: the data funnel, the loss curve, and the paper's tables with our numbers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from selfcodealign.cli import main
from selfcodealign.report import paper, paper_tables, plots, tables

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LOSS_HEADER = "step,epoch,loss,learning_rate,tokens,loss_tokens,padded_tokens,tokens_per_s,run\n"
TABLE_FILES = {"table.md", "table.csv", "table.png", "summary.json"}

# The paper's numbers, copied from SPEC.md ("Paper numbers to reproduce").
IDS = {
    "sc2-3b": "bigcode/starcoder2-3b",
    "llama3-8b": "meta-llama/Meta-Llama-3-8B",
    "sc2-15b": "bigcode/starcoder2-15b",
    "dsc-33b": "deepseek-ai/deepseek-coder-33b-base",
    "cq7b": "Qwen/CodeQwen1.5-7B",
}
SPEC_TABLE8_COLUMNS = ["sc2-3b", "llama3-8b", "sc2-15b", "dsc-33b", "cq7b"]
SPEC_TABLE8 = {  # row: (base, [cells by column]); None is an empty cell of the paper's matrix
    "sc2-3b": (27.4, [35.4, 34.1, 39.0, 42.1, 40.2]),
    "llama3-8b": (29.3, [None, 42.7, 40.2, 41.5, 43.3]),
    "sc2-15b": (37.8, [None, None, 55.5, 53.0, 57.3]),
    "dsc-33b": (44.5, [None, None, None, 65.9, 62.2]),
    "cq7b": (45.7, [48.8, 54.9, 56.1, 59.1, 65.2]),
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "workflow")}


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0


# --- spec building ----------------------------------------------------------------------------


class Specs:
    """Writes evaluation summaries and SFT datasets under a directory; builds spec rows."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def evaluation(self, model: str, bench: str, plus: float, prompt: str = "paper") -> str:
        path = self.root / "eval" / model / f"{bench}-{prompt}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "model": model,
            "benchmark": bench,
            "prompt": prompt,
            "dataset_version": "v0.1.10",
            "pass@1": {"base": min(1.0, plus + 0.05), "plus": plus},
            "tasks": {},
        }
        return str(write(path, data))

    def scored(self, model: str, bench: str, verdicts: str, prompt: str = "paper") -> str:
        """An evaluation in the shape ``evaluate`` writes, with per-task results: ``verdicts``
        one code per task, ``P`` (base and plus tests pass), ``b`` (base tests pass, plus fail)
        or ``f`` (both fail); pass@1 computed from them as EvalPlus does."""
        statuses = {"P": ("pass", "pass"), "b": ("pass", "fail"), "f": ("fail", "fail")}
        prefix = {"humaneval": "HumanEval", "mbpp": "Mbpp"}[bench]
        tasks = {
            f"{prefix}/{index}": [dict(zip(("base", "plus"), statuses[code], strict=True))]
            for index, code in enumerate(verdicts)
        }
        path = self.root / "eval" / model / f"{bench}-{prompt}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "benchmark": bench,
            "dataset": bench,
            "dataset_version": "v0.1.10",
            "dataset_md5": f"md5-of-{bench}",
            "tasks_in_dataset": len(tasks),
            "pass@1": {
                "base": verdicts.count("P") / len(tasks) + verdicts.count("b") / len(tasks),
                "plus": verdicts.count("P") / len(tasks),
            },
            "isolation": "bwrap",
            "tasks": tasks,
            "model": "finetuned" if "-" in model else "base",
            "model_name": model,
            "prompt": prompt,
        }
        return str(write(path, data))

    def not_trained(self, model: str, bench: str, pairs: int, min_pairs: int) -> str:
        """The evaluation of a training skipped for too few pairs: the marker, no score."""
        path = self.root / "eval" / model / f"{bench}-paper.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        marker = {"reason": "too_few_pairs", "pairs": pairs, "min_pairs": min_pairs}
        data = {
            "model": "finetuned",
            "benchmark": bench,
            "prompt": "paper",
            "not_trained": {**marker, "dataset": f"data/{model}/sft.jsonl"},
            "pass@1": None,
            "tasks": {},
        }
        return str(write(path, data))

    def sft(self, name: str, passed: int, failed: int) -> str:
        path = self.root / "data" / name / "sft.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        statuses = ["passed"] * passed + ["failed"] * failed
        path.write_text(
            "".join(
                json.dumps({"instruction": "i", "execution_status": s}) + "\n" for s in statuses
            )
        )
        return str(path)

    def model(self, name: str, scores: dict[str, float], model_id: str | None = None, **extra):
        return {
            "name": name,
            "kind": "model",
            "model": {"name": name, "id": model_id or IDS.get(name, name)},
            "generator": None,
            "dataset": None,
            "evals": {b: self.evaluation(name, b, s) for b, s in scores.items()},
            **extra,
        }

    def training(
        self,
        name: str,
        student: str,
        scores: dict[str, float],
        generator: str | None = None,
        dataset: dict | None = None,
        base: float | None = None,
        **extra,
    ):
        dataset = {"name": f"{generator or name}-data", "kind": "generated", **(dataset or {})}
        return {
            "name": name,
            "kind": "training",
            "model": {"name": student, "id": IDS.get(student, student)},
            "generator": {"name": generator, "id": IDS[generator]} if generator else None,
            "dataset": dataset,
            "evals": {b: self.evaluation(name, b, s) for b, s in scores.items()},
            "base_evals": (
                {} if base is None else {"humaneval": self.evaluation(student, "humaneval", base)}
            ),
            **extra,
        }


@pytest.fixture
def specs(tmp_path) -> Specs:
    return Specs(tmp_path / "inputs")


def spec_of(shape: str, rows: list[dict], **extra) -> dict:
    benchmarks = ["humaneval", "mbpp"] if shape == "table1" else ["humaneval"]
    return {
        "table": f"my-{shape}",
        "shape": shape,
        "prompt": "paper",
        "benchmarks": benchmarks,
        "rows": rows,
        **extra,
    }


def run_table(spec: dict, out: Path) -> int:
    return main(["report", "table", "--spec", json.dumps(spec), "--output-dir", str(out)])


def written(out: Path, shape: str) -> dict[str, list]:
    """The table's CSV rows (checked to exist with its PNGs) and its summary."""
    names = {p.name for p in out.iterdir()}
    assert names == TABLE_FILES | ({"heatmap.png"} if shape == "table8" else set())
    for name in names - {"table.md", "table.csv", "summary.json"}:
        assert_png(out / name)
    columns, rows = read_csv(out / "table.csv")
    return {"columns": columns, "rows": rows}


def number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


# --- paper numbers ----------------------------------------------------------------------------


def test_table8_numbers_are_the_papers_matrix():
    for student, (base, cells) in SPEC_TABLE8.items():
        assert paper.table8_base(IDS[student]) == base
        for generator, expected in zip(SPEC_TABLE8_COLUMNS, cells, strict=True):
            assert paper.table8_cell(IDS[student], IDS[generator]) == expected, (
                student,
                generator,
            )
    assert paper.table8_order() == list(IDS.values())


def test_table1_lookup_by_id_case_directory_and_name():
    assert paper.table1_entry(None, "model", "qwen/codeqwen1.5-7b", False)[1]["mbpp"] == 60.2
    name, entry = paper.table1_entry(None, "training", "/models/CodeQwen1.5-7B/", True)
    assert (name, entry["humaneval"], entry["mbpp"]) == ("SelfCodeAlign-CQ-7B", 67.1, 65.2)
    # A training on data from elsewhere is not the paper's SelfCodeAlign row.
    assert paper.table1_entry(None, "training", "Qwen/CodeQwen1.5-7B", False) is None
    octo = paper.table1_entry("codeqwen1.5-7b-octopack", "training", "x", False)[1]
    assert (octo["humaneval"], octo["mbpp"]) == (50.6, 63.2)
    llama = paper.table1_entry(None, "model", "codellama/CodeLlama-70b-Instruct-hf", False)[1]
    assert (llama["humaneval"], llama["mbpp"]) == (65.2, 61.7)
    assert paper.table1_entry(None, "model", "some/other-model", False) is None


def test_plain_keys_match_case_but_not_by_last_component():
    assert paper.table_entry("table10", "Functions/S2I")[1]["humaneval"] == 59.8
    # "snippets/s2i" is no row of Table 10, whatever its last component.
    assert paper.table_entry("table10", "snippets/s2i") is None
    assert paper.table_entry("table11", None) is None


def test_an_ambiguous_directory_name_matches_nothing():
    numbers = {"a/model": {}, "b/model": {}}
    assert paper.match_model("/local/model", numbers) is None
    assert paper.match_model("B/MODEL", numbers) == "b/model"


# --- evaluations ------------------------------------------------------------------------------


def test_check_eval_takes_any_model_name():
    data = {"model": "sc2-3b-on-cq7b", "benchmark": "humaneval", "prompt": "paper"}
    data["pass@1"] = {"base": 0.5, "plus": 0.25}
    assert tables.check_eval(data, "x.json") is data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pass@1": None}, '"pass@1" must hold'),
        ({"pass@1": {"base": 0.5, "plus": 1.5}}, "between 0 and 1"),
        ({"model": ""}, "'model' must be a non-empty string"),
        ({"benchmark": 3}, "'benchmark' must be a non-empty string"),
    ],
)
def test_check_eval_rejects_bad_summaries(change, message):
    data = {"model": "m", "benchmark": "humaneval", "prompt": "paper"}
    data["pass@1"] = {"base": 0.5, "plus": 0.25}
    with pytest.raises(tables.ReportInputError, match=message):
        tables.check_eval({**data, **change}, "x.json")


# --- tables -----------------------------------------------------------------------------------


def test_table1(specs, tmp_path):
    rows = [
        specs.model("cq7b", {"humaneval": 0.5, "mbpp": 0.625}, "/models/CodeQwen1.5-7B"),
        specs.training("cq7b-self", "cq7b", {"humaneval": 0.671, "mbpp": 0.7}, "cq7b"),
        specs.training(
            "cq7b-octopack",
            "cq7b",
            {"humaneval": 0.5, "mbpp": 0.6},
            dataset={"name": "octopack", "kind": "external"},
            paper="CodeQwen1.5-7B-OctoPack",
            label="OctoPack",
        ),
        specs.model("cl70", {"humaneval": 0.6, "mbpp": 0.6}, "codellama/CodeLlama-70b-Instruct-hf"),
        specs.training("sc2-3b-self", "sc2-3b", {"humaneval": 0.3, "mbpp": 0.4}, "sc2-3b"),
        specs.training(
            "cq7b-ext",
            "cq7b",
            {"humaneval": 0.6, "mbpp": 0.6},
            dataset={"name": "evol", "kind": "external"},
        ),
    ]
    out = tmp_path / "t1"
    assert run_table(spec_of("table1", rows), out) == 0
    got = written(out, "table1")["rows"]
    assert [row["row"] for row in got] == [
        "cq7b",
        "cq7b-self",
        "OctoPack",
        "cl70",
        "sc2-3b-self",
        "cq7b-ext",
    ]
    expected = [  # ours and the paper's (HumanEval+, MBPP+)
        ((50.0, 62.5), (45.7, 60.2)),
        ((67.1, 70.0), (67.1, 65.2)),
        ((50.0, 60.0), (50.6, 63.2)),
        ((60.0, 60.0), (65.2, 61.7)),
        ((30.0, 40.0), (None, None)),
        ((60.0, 60.0), (None, None)),
    ]
    for row, (ours, theirs) in zip(got, expected, strict=True):
        for bench, mine, paper_value in zip(("HumanEval+", "MBPP+"), ours, theirs, strict=True):
            assert number(row[f"{bench} pass@1 (%)"]) == pytest.approx(mine)
            assert number(row[f"{bench} paper (%)"]) == paper_value
            delta = number(row[f"{bench} delta"])
            if paper_value is None:
                assert delta is None, row  # blank, not zero
            else:
                assert delta == pytest.approx(mine - paper_value)
    assert got[1]["paper row"] == "SelfCodeAlign-CQ-7B"
    md = (out / "table.md").read_text()
    assert (
        "| cq7b | model | cq7b | CodeQwen1.5-7B | 50.0 | 45.7 | +4.3 |  | 62.5 | 60.2 | +2.3 |  |"
        in md
    )
    # No evaluation of the base model in this spec: no counts beside the training's score.
    assert "| sc2-3b-self | training | sc2-3b |  | 30.0 |  |  |  | 40.0 |  |  |  |" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spec"]["table"] == "my-table1" and len(summary["rows"]) == 6
    assert summary["rows"][0]["scores"]["mbpp"]["paper"] == 60.2


def test_other_prompts_have_no_paper_numbers(specs, tmp_path):
    row = specs.model("cq7b", {})
    row["evals"] = {
        b: specs.evaluation("cq7b", b, 0.5, prompt="evalplus") for b in ("humaneval", "mbpp")
    }
    out = tmp_path / "t1"
    assert run_table(spec_of("table1", [row], prompt="evalplus"), out) == 0
    (got,) = written(out, "table1")["rows"]
    assert got["HumanEval+ pass@1 (%)"] == "50.0"
    assert got["HumanEval+ paper (%)"] == got["HumanEval+ delta"] == ""


def test_table8_matrix(specs, tmp_path):
    # Scrambled against the paper's order, which the matrix takes back.
    rows = [
        specs.training("cq7b-on-cq7b", "cq7b", {"humaneval": 0.65}, "cq7b", base=0.5),
        specs.training("sc2-3b-on-cq7b", "sc2-3b", {"humaneval": 0.4}, "cq7b", base=0.25),
        specs.training("llama-on-sc2-15b", "llama3-8b", {"humaneval": 0.375}, "sc2-15b"),
        specs.training("cq7b-on-sc2-3b", "cq7b", {"humaneval": 0.5}, "sc2-3b", base=0.5),
        # The paper's matrix has no such cell.
        specs.training("llama-on-sc2-3b", "llama3-8b", {"humaneval": 0.25}, "sc2-3b"),
    ]
    out = tmp_path / "t8"
    assert run_table(spec_of("table8", rows), out) == 0
    got = written(out, "table8")["rows"]
    assert [row["fine-tuned"] for row in got] == ["sc2-3b", "llama3-8b", "cq7b"]
    paper_base = {s: base for s, (base, _) in SPEC_TABLE8.items()}

    def expected_paper(student: str, generator: str) -> float | None:
        return SPEC_TABLE8[student][1][SPEC_TABLE8_COLUMNS.index(generator)]

    ours = {
        ("sc2-3b", "cq7b"): 40.0,
        ("llama3-8b", "sc2-15b"): 37.5,
        ("llama3-8b", "sc2-3b"): 25.0,
        ("cq7b", "cq7b"): 65.0,
        ("cq7b", "sc2-3b"): 50.0,
    }
    for row in got:
        student = row["fine-tuned"]
        for generator in ("sc2-3b", "sc2-15b", "cq7b"):
            mine = ours.get((student, generator))
            theirs = expected_paper(student, generator) if mine is not None else None
            assert number(row[f"{generator} pass@1 (%)"]) == mine, (student, generator)
            assert number(row[f"{generator} paper (%)"]) == theirs, (student, generator)
            if mine is not None and theirs is not None:
                assert number(row[f"{generator} delta"]) == pytest.approx(mine - theirs)
            else:
                assert row[f"{generator} delta"] == ""
        assert number(row["base paper (%)"]) == paper_base[student]
    assert [number(row["base pass@1 (%)"]) for row in got] == [25.0, None, 50.0]
    # sc2-3b was not trained on its own data here: an empty cell.
    assert got[0]["sc2-3b pass@1 (%)"] == got[0]["sc2-3b paper (%)"] == ""

    md = (out / "table.md").read_text()
    assert "| fine-tuned \\ data from | sc2-3b | sc2-15b | cq7b |" in md
    assert "| sc2-3b (base 25.0 / 27.4 (-2.4)) |  |  | 40.0 / 40.2 (-0.2) |" in md
    assert "| llama3-8b (base – / 29.3) | 25.0 | 37.5 / 40.2 (-2.7) |  |" in md

    heat = paper_tables.heatmap_data(json.loads((out / "summary.json").read_text()))
    assert heat["columns"] == ["sc2-3b", "sc2-15b", "cq7b"]
    assert heat["rows"][0] == "sc2-3b (25.0 / 27.4)"
    assert heat["ours"][0][0] != heat["ours"][0][0]  # NaN: the empty cell
    assert heat["ours"][2] == [50.0, heat["ours"][2][1], 65.0]
    assert heat["paper"][2][0] == 48.8 and heat["paper"][1][0] != heat["paper"][1][0]


def test_table8_explicit_key_and_a_base_model_row(specs):
    rows = [
        specs.training(
            "local-student",
            "mine",
            {"humaneval": 0.5},
            "cq7b",
            paper="bigcode/starcoder2-15b|Qwen/CodeQwen1.5-7B",
        ),
        specs.model("mine", {"humaneval": 0.375}, "/models/my-model"),
    ]
    spec = paper_tables.check_spec(spec_of("table8", rows))
    matrix = paper_tables.build_table(spec)["matrix"]
    assert (matrix["students"], matrix["generators"]) == (["mine"], ["cq7b"])
    ((cell,),) = matrix["cells"]
    assert (cell["ours"], cell["paper"]) == (50.0, 57.3)  # SPEC.md: SC2-15B on CQ-7B data
    assert cell["delta"] == pytest.approx(50.0 - 57.3)
    # The base score comes from the model row; the paper has none for an unknown model.
    assert matrix["base"]["mine"]["ours"] == 37.5 and matrix["base"]["mine"]["paper"] is None


def test_table9(specs, tmp_path):
    modes = {  # mode: (passed, failed, HumanEval+ fraction)
        "random_selection": (2, 6, 0.6),
        "random_subset": (1, 3, 0.625),
        "failures_only": (0, 4, 0.5),
        "passes_only": (4, 0, 0.65),
    }
    rows = [
        specs.training(
            f"t9-{mode}",
            "cq7b",
            {"humaneval": plus},
            "cq7b",
            dataset={"selection_mode": mode, "sft": specs.sft(mode, passed, failed)},
        )
        for mode, (passed, failed, plus) in modes.items()
    ]
    out = tmp_path / "t9"
    assert run_table(spec_of("table9", rows), out) == 0
    got = {row["selection mode"]: row for row in written(out, "table9")["rows"]}
    spec_numbers = {  # SPEC.md, Table 9: size, pass rate, HumanEval+
        "random_selection": (27700, 24.1, 61.6),
        "random_subset": (15600, 24.2, 61.6),
        "failures_only": (15600, 0.0, 57.9),
        "passes_only": (15600, 100.0, 65.2),
    }
    for mode, (passed, failed, plus) in modes.items():
        row = got[mode]
        size, rate, humaneval = spec_numbers[mode]
        assert int(row["data size"]) == passed + failed
        assert number(row["pass rate (%)"]) == pytest.approx(100 * passed / (passed + failed))
        assert number(row["paper data size"]) == size
        assert number(row["paper pass rate (%)"]) == rate
        assert number(row["HumanEval+ pass@1 (%)"]) == pytest.approx(100 * plus)
        assert number(row["HumanEval+ paper (%)"]) == humaneval
        assert number(row["HumanEval+ delta"]) == pytest.approx(100 * plus - humaneval)
    md = (out / "table.md").read_text()
    assert (
        "| random_selection | t9-random_selection | 8 | 27.7k | 25.0 | 24.1 | 60.0 | 61.6 |" in md
    )


def test_a_training_with_too_few_pairs_shows_why_it_has_no_score(specs, tmp_path):
    rows = [
        specs.training(
            f"t9-{mode}",
            "cq7b",
            {"humaneval": 0.6},
            "cq7b",
            dataset={"selection_mode": mode, "sft": specs.sft(mode, 2, 1)},
        )
        for mode in ("random_selection", "failures_only")
    ]
    rows[1]["evals"]["humaneval"] = specs.not_trained("t9-failures_only", "humaneval", 3, 10)
    out = tmp_path / "t9"
    assert run_table(spec_of("table9", rows), out) == 0
    trained, skipped = written(out, "table9")["rows"]
    assert number(trained["HumanEval+ pass@1 (%)"]) == 60.0
    assert skipped["HumanEval+ pass@1 (%)"] == "too few pairs (3 < 10)"
    assert number(skipped["HumanEval+ paper (%)"]) == 57.9  # the paper's number stays
    assert skipped["HumanEval+ delta"] == ""
    md = (out / "table.md").read_text()
    assert "| failures_only | t9-failures_only | 3 | 15.6k | 66.7 | 0.0 |" in md
    assert "| too few pairs (3 < 10) | 57.9 |  |" in md
    assert "too few pairs (n < m): the training's dataset had n usable pairs" in md
    cell = json.loads((out / "summary.json").read_text())["rows"][1]["scores"]["humaneval"]
    assert cell["ours"] is None and cell["delta"] is None and cell["paper"] == 57.9
    assert cell["not_trained"] == {"reason": "too_few_pairs", "pairs": 3, "min_pairs": 10}
    assert cell["note"] == "too few pairs (3 < 10)"
    groups = paper_tables.bar_groups(
        paper_tables.check_spec(spec_of("table9", rows)),
        {"rows": json.loads((out / "summary.json").read_text())["rows"]},
    )
    assert groups[1][1] == [("HumanEval+", None, 57.9, "too few pairs (3 < 10)")]


def test_table8_cell_of_a_training_with_too_few_pairs(specs, tmp_path):
    rows = [
        specs.training("sc2-3b-on-cq7b", "sc2-3b", {"humaneval": 0.4}, "cq7b", base=0.25),
        specs.training("cq7b-on-cq7b", "cq7b", {"humaneval": 0.65}, "cq7b", base=0.5),
    ]
    rows[0]["evals"]["humaneval"] = specs.not_trained("sc2-3b-on-cq7b", "humaneval", 0, 1)
    out = tmp_path / "t8"
    assert run_table(spec_of("table8", rows), out) == 0
    got = written(out, "table8")["rows"]
    assert got[0]["cq7b pass@1 (%)"] == "too few pairs (0 < 1)"
    assert (number(got[0]["cq7b paper (%)"]), got[0]["cq7b delta"]) == (40.2, "")
    assert number(got[1]["cq7b pass@1 (%)"]) == 65.0
    md = (out / "table.md").read_text()
    assert "| sc2-3b (base 25.0 / 27.4 (-2.4)) | too few pairs (0 < 1) / 40.2 |" in md
    heat = paper_tables.heatmap_data(json.loads((out / "summary.json").read_text()))
    assert heat["ours"][0][0] != heat["ours"][0][0]  # NaN: no score, the cell stays grey
    assert heat["notes"] == [["too few pairs (0 < 1)"], [None]]
    # Every cell without a score still draws, with its note.
    only = {**heat, "rows": heat["rows"][:1], "ours": heat["ours"][:1], "paper": heat["paper"][:1]}
    plots.heatmap_plot({**only, "notes": heat["notes"][:1]}, tmp_path / "h.png", "t")
    assert_png(tmp_path / "h.png")


# Against the base model (HumanEval+): task 1 and 2 gained (task 2 passed the base tests only:
# unsolved on the plus verdict), task 3 lost; task 5 passes the base tests for the base model
# only, which the plus verdict does not count. On the base tests alone it would be +1 / -1.
BASE_VERDICTS = {"humaneval": "PfbPfb", "mbpp": "PPPf"}
TUNED_VERDICTS = {"humaneval": "PPPbff", "mbpp": "PfPP"}  # MBPP+: +1 / -1


def test_tasks_gained_and_lost_against_the_base_model(specs, tmp_path):
    benches = ("humaneval", "mbpp")
    base = {b: specs.scored("cq7b", b, BASE_VERDICTS[b]) for b in benches}
    rows = [
        specs.model("cq7b", {}),
        specs.training("cq7b-self", "cq7b", {}, "cq7b"),
        specs.training("cq7b-small", "cq7b", {}, "cq7b", dataset={"name": "small"}),
    ]
    rows[0]["evals"] = dict(base)
    rows[1]["evals"] = {b: specs.scored("cq7b-self", b, TUNED_VERDICTS[b]) for b in benches}
    rows[2]["evals"] = {b: specs.not_trained("cq7b-small", b, 3, 10) for b in benches}
    for row in rows[1:]:
        row["base_evals"] = dict(base)
    out = tmp_path / "t1"
    assert run_table(spec_of("table1", rows), out) == 0
    table = written(out, "table1")
    for bench in ("HumanEval+", "MBPP+"):
        index = table["columns"].index(f"{bench} delta")
        assert table["columns"][index + 1 : index + 4] == [
            f"{bench} gained vs base",
            f"{bench} lost vs base",
            f"{bench} base pass@1 (%)",
        ]
    model, tuned, skipped = table["rows"]
    assert [model[f"HumanEval+ {key} vs base"] for key in ("gained", "lost")] == ["", ""]
    assert model["HumanEval+ base pass@1 (%)"] == ""
    assert number(tuned["HumanEval+ pass@1 (%)"]) == 50.0
    assert (tuned["HumanEval+ gained vs base"], tuned["HumanEval+ lost vs base"]) == ("2", "1")
    assert (tuned["MBPP+ gained vs base"], tuned["MBPP+ lost vs base"]) == ("1", "1")
    assert number(tuned["HumanEval+ base pass@1 (%)"]) == pytest.approx(100 / 3)
    assert number(tuned["MBPP+ base pass@1 (%)"]) == 75.0
    # Not trained: no counts (blank, not 0); the base's score is still its own.
    assert skipped["HumanEval+ pass@1 (%)"] == "too few pairs (3 < 10)"
    assert (skipped["HumanEval+ gained vs base"], skipped["HumanEval+ lost vs base"]) == ("", "")
    assert number(skipped["HumanEval+ base pass@1 (%)"]) == pytest.approx(100 / 3)

    md = (out / "table.md").read_text()
    assert "| HumanEval+ (%) | paper | Δ | vs base | MBPP+ (%) | paper | Δ | vs base |" in md
    assert (
        "| cq7b-self | training | cq7b | SelfCodeAlign-CQ-7B | 50.0 | 67.1 | -17.1 | +2 / -1 |"
        in md
    )
    assert "| 75.0 | 65.2 | +9.8 | +1 / -1 |" in md
    assert "| too few pairs (3 < 10) | 67.1 |  | – | too few pairs (3 < 10) | 65.2 |  | – |" in md
    assert "| cq7b | model | cq7b | CodeQwen1.5-7B | 33.3 | 45.7 | -12.4 |  |" in md
    assert "vs base, +g / -l: per benchmark" in md and "plus verdict" in md

    summary = json.loads((out / "summary.json").read_text())
    assert "vs_base" not in summary["rows"][0]["scores"]["humaneval"]
    vs_base = summary["rows"][1]["scores"]["humaneval"]["vs_base"]
    assert vs_base == {
        "model": "cq7b",
        "eval": base["humaneval"],
        "pass@1": pytest.approx(100 / 3),
        "gained": 2,
        "lost": 1,
        "tasks": 6,
    }
    assert summary["rows"][1]["scores"]["mbpp"]["vs_base"]["gained"] == 1
    skipped_vs = summary["rows"][2]["scores"]["humaneval"]["vs_base"]
    assert (skipped_vs["gained"], skipped_vs["lost"], skipped_vs["tasks"]) == (None, None, None)
    assert skipped_vs["model"] == "cq7b" and skipped_vs["pass@1"] == pytest.approx(100 / 3)


def test_tasks_gained_and_lost_in_a_keyed_table(specs, tmp_path):
    row = specs.training("cq7b-exec", "cq7b", {}, "cq7b", dataset={"selection_mode": "execution"})
    row["evals"] = {"humaneval": specs.scored("cq7b-exec", "humaneval", "PPPbff")}
    row["base_evals"] = {"humaneval": specs.scored("cq7b", "humaneval", "PfbPfb")}
    out = tmp_path / "t9"
    assert run_table(spec_of("table9", [row]), out) == 0
    (got,) = written(out, "table9")["rows"]
    assert (got["HumanEval+ gained vs base"], got["HumanEval+ lost vs base"]) == ("2", "1")
    md = (out / "table.md").read_text()
    assert "| execution | cq7b-exec |  |  |  |  | 50.0 |  |  | +2 / -1 |" in md
    assert "vs base, +g / -l" in md


def test_table8_cells_count_tasks_gained_and_lost(specs, tmp_path):
    rows = [
        specs.training("sc2-3b-on-cq7b", "sc2-3b", {}, "cq7b"),
        specs.training("cq7b-on-cq7b", "cq7b", {}, "cq7b"),
    ]
    rows[0]["evals"] = {"humaneval": specs.not_trained("sc2-3b-on-cq7b", "humaneval", 0, 1)}
    rows[0]["base_evals"] = {"humaneval": specs.scored("sc2-3b", "humaneval", "fffPPf")}
    rows[1]["evals"] = {"humaneval": specs.scored("cq7b-on-cq7b", "humaneval", "PPPbff")}
    rows[1]["base_evals"] = {"humaneval": specs.scored("cq7b", "humaneval", "PfbPfb")}
    out = tmp_path / "t8"
    assert run_table(spec_of("table8", rows), out) == 0
    table = written(out, "table8")
    assert table["columns"] == [
        "fine-tuned",
        "base pass@1 (%)",
        "base paper (%)",
        "base delta",
        "cq7b pass@1 (%)",
        "cq7b paper (%)",
        "cq7b delta",
        "cq7b gained vs base",
        "cq7b lost vs base",
    ]
    skipped, tuned = table["rows"]
    assert (tuned["cq7b gained vs base"], tuned["cq7b lost vs base"]) == ("2", "1")
    assert (skipped["cq7b gained vs base"], skipped["cq7b lost vs base"]) == ("", "")
    assert number(skipped["base pass@1 (%)"]) == pytest.approx(100 / 3)
    md = (out / "table.md").read_text()
    assert "| cq7b (base 33.3 / 45.7 (-12.4)) | 50.0 / 65.2 (-15.2) [+2 / -1] |" in md
    assert "| too few pairs (0 < 1) / 40.2 |" in md  # no counts, no brackets
    assert "In square brackets, +g / -l" in md
    matrix = json.loads((out / "summary.json").read_text())["matrix"]
    assert matrix["cells"][1][0]["vs_base"]["gained"] == 2
    assert matrix["cells"][1][0]["vs_base"]["lost"] == 1
    assert matrix["cells"][1][0]["vs_base"]["model"] == "cq7b"
    assert matrix["cells"][0][0]["vs_base"]["gained"] is None


def test_a_base_evaluated_on_other_tasks_exits_2(specs, tmp_path, capsys):
    row = specs.training("cq7b-self", "cq7b", {}, "cq7b")
    row["evals"] = {"humaneval": specs.scored("cq7b-self", "humaneval", "PPPbff")}
    row["base_evals"] = {"humaneval": specs.scored("cq7b", "humaneval", "PfbPf")}
    assert run_table(spec_of("table9", [row]), tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not evaluated on the same tasks" in err, err


def test_an_evaluation_not_trained_has_no_score():
    data = {
        "model": "finetuned",
        "benchmark": "humaneval",
        "prompt": "paper",
        "not_trained": {"reason": "too_few_pairs", "pairs": 2, "min_pairs": 3},
        "pass@1": None,
    }
    assert tables.check_eval(data, "e.json") is data
    with pytest.raises(tables.ReportInputError, match='not trained has no "pass@1"'):
        tables.check_eval({**data, "pass@1": {"base": 0.5, "plus": 0.5}}, "e.json")
    with pytest.raises(tables.ReportInputError, match="expected a skipped-training marker"):
        tables.check_eval({**data, "not_trained": {"pairs": 2}}, "e.json")


def test_table10(specs, tmp_path):
    settings = [
        ("functions", "s2i", 0.6),
        ("snippets", "s2c2i", 0.625),
        ("functions", "s2c2i", 0.65),
    ]
    settings.append(("snippets", "s2i", 0.5))  # not in the paper
    rows = [
        specs.training(
            f"t10-{seeds}-{pipeline}",
            "cq7b",
            {"humaneval": plus},
            "cq7b",
            dataset={"seed_kind": seeds, "pipeline": pipeline},
        )
        for seeds, pipeline, plus in settings
    ]
    out = tmp_path / "t10"
    assert run_table(spec_of("table10", rows), out) == 0
    got = written(out, "table10")["rows"]
    assert [row["seeds × pipeline"] for row in got] == [
        "functions × s2i",
        "snippets × s2c2i",
        "functions × s2c2i",
        "snippets × s2i",
    ]
    for row, theirs in zip(got, [59.8, 64.0, 65.2, None], strict=True):
        assert number(row["HumanEval+ paper (%)"]) == theirs
    assert number(got[1]["HumanEval+ delta"]) == pytest.approx(62.5 - 64.0)
    assert got[3]["HumanEval+ delta"] == ""
    assert (
        "| functions × s2i | t10-functions-s2i | 60.0 | 59.8 | +0.2 |"
        in (out / "table.md").read_text()
    )


def test_table11(specs, tmp_path):
    sources = [
        ("evol-instruct", 0.6, {}),
        ("oss-instruct", 0.6, {}),
        ("gpt-4o-distillation", 0.65, {"label": "GPT-4o"}),
        ("cq7b-data", 0.675, {"paper": "selfcodealign"}),
        ("magicoder-evol", 0.55, {}),
    ]
    rows = [
        specs.training(
            f"t11-{name}",
            "cq7b",
            {"humaneval": plus},
            dataset={"name": name, "kind": "external", "sft": specs.sft(name, 1, 1)},
            **extra,
        )
        for name, plus, extra in sources
    ]
    out = tmp_path / "t11"
    assert run_table(spec_of("table11", rows), out) == 0
    got = written(out, "table11")["rows"]
    assert [row["data source"] for row in got] == [
        "evol-instruct",
        "oss-instruct",
        "GPT-4o",
        "cq7b-data",
        "magicoder-evol",
    ]
    for row, theirs, (_, plus, _) in zip(got, [59.1, 61.6, 65.9, 67.1, None], sources, strict=True):
        assert number(row["HumanEval+ pass@1 (%)"]) == pytest.approx(100 * plus)
        assert number(row["HumanEval+ paper (%)"]) == theirs
        assert row["data size"] == "2"
    assert number(got[3]["HumanEval+ delta"]) == pytest.approx(0.4)


def test_empty_table_still_writes_every_file(tmp_path):
    out = tmp_path / "t8"
    assert run_table(spec_of("table8", []), out) == 0
    written(out, "table8")
    assert "no rows" in (out / "table.md").read_text()


def test_table_is_byte_for_byte_repeatable(specs, tmp_path):
    rows = [specs.training("a", "sc2-3b", {"humaneval": 0.4}, "cq7b", base=0.25)]
    spec = spec_of("table8", rows)
    assert run_table(spec, tmp_path / "one") == 0
    assert run_table(spec, tmp_path / "two") == 0
    for name in (*TABLE_FILES, "heatmap.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert b"matplotlib" not in (tmp_path / "one" / "heatmap.png").read_bytes()


def test_table_command_as_a_process(specs, tmp_path):
    spec = spec_of("table10", [specs.training("t", "cq7b", {"humaneval": 0.6}, "cq7b")])
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "selfcodealign", "report", "table", "--spec", json.dumps(spec)]
        + ["--output-dir", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (out / "table.md").read_text()
    written(out, "table10")


# --- bad input --------------------------------------------------------------------------------


def _bad_eval(specs: Specs, spec: dict, problem: str) -> str:
    path = Path(spec["rows"][0]["evals"]["humaneval"])
    if problem == "missing":
        path.unlink()
    elif problem == "malformed":
        path.write_text("{not json")
    elif problem == "incomplete":
        path.write_text('{"model": "m", "benchmark": "humaneval", "prompt": "paper"}')
    elif problem == "prompt":
        path.write_text(Path(specs.evaluation("t", "humaneval", 0.5, "evalplus")).read_text())
    return str(path)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing", "No such file"),
        ("malformed", "not valid JSON"),
        ("incomplete", "missing key(s) pass@1"),
        ("prompt", "prompt is 'evalplus', the table's is 'paper'"),
    ],
)
def test_bad_evaluation_exits_2_with_one_line(specs, tmp_path, capsys, problem, message):
    spec = spec_of("table9", [specs.training("t", "cq7b", {"humaneval": 0.6}, "cq7b")])
    path = _bad_eval(specs, spec, problem)
    out = tmp_path / "out"
    assert run_table(spec, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert path in err and message in err
    assert not out.exists(), "nothing is written from bad input"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shape": "table7"}, "spec.shape: unknown shape 'table7'"),
        ({"rows": {}}, "spec.rows: expected a list"),
        ({"benchmarks": ["humaneval", "mbpp"]}, "spec.rows[0].evals: no evaluation for mbpp"),
        ({"row": {"kind": "student"}}, "spec.rows[0].kind: expected one of training, model"),
        ({"row": {"model": {"id": "x"}}}, "spec.rows[0].model.name"),
        (
            {"row": {"dataset": {"name": "d", "kind": "bought"}}},
            "spec.rows[0].dataset.kind: expected one of generated, external",
        ),
        ({"shape": "table8", "row": {"generator": None}}, "spec.rows[0].generator: table8 needs"),
    ],
)
def test_bad_spec_exits_2_naming_the_key(specs, tmp_path, capsys, change, message):
    row = specs.training("t", "cq7b", {"humaneval": 0.6}, "cq7b")
    row.update(change.pop("row", {}))
    spec = {**spec_of("table9", [row]), **change}
    assert run_table(spec, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_spec_that_is_not_json_exits_2(tmp_path, capsys):
    code = main(["report", "table", "--spec", "{shape", "--output-dir", str(tmp_path / "o")])
    assert code == 2 and capsys.readouterr().err.startswith("error: --spec: not valid JSON")


def test_bad_sft_dataset_names_the_file_and_line(specs, tmp_path, capsys):
    sft = specs.sft("d", 1, 0)
    with open(sft, "a") as handle:
        handle.write("{oops\n")
    row = specs.training("t", "cq7b", {"humaneval": 0.6}, dataset={"sft": sft})
    assert run_table(spec_of("table9", [row]), tmp_path / "out") == 2
    assert f"{sft}:2: not a JSON object" in capsys.readouterr().err


# --- the dataset and training reports ---------------------------------------------------------

SEED_FUNNEL = {
    "steps": [
        {"step": "extract", "input": 10, "output": 40, "removed": {}, "extra": {"files": 10}},
        {"step": "static_filters", "input": 40, "output": 25, "removed": {"a": 5, "b": 10}},
        {"step": "dedup", "input": 25, "output": 20, "removed": {"near_duplicate": 5}},
    ],
    "final": 20,
}
DATASET_FUNNEL = {
    "steps": [
        {"step": "format_check", "input": 30, "output": 12, "removed": {"x": 18}},
        {"step": "execution", "input": 12, "output": 3, "removed": {"fails": 9}},
    ],
    "final": 3,
    "mode": "passes_only",
}


def test_dataset_report(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["report", "dataset", "--seed-funnel", str(write(tmp_path / "s.json", SEED_FUNNEL))]
    args += ["--dataset-funnel", str(write(tmp_path / "d.json", DATASET_FUNNEL))]
    assert main([*args, "--output-dir", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"funnel.md", "funnel.csv", "funnel.png"}
    assert capsys.readouterr().out == (out / "funnel.md").read_text()
    columns, funnel = read_csv(out / "funnel.csv")
    assert columns == list(tables.FUNNEL_COLUMNS)
    assert [row["stage"] for row in funnel] == ["seeds"] * 3 + ["dataset"] * 2 + ["overall"]
    for stage in ("seeds", "dataset"):
        mine = [row for row in funnel if row["stage"] == stage]
        for before, after in zip(mine, mine[1:], strict=False):
            assert before["output"] == after["input"]
    assert (funnel[-1]["input"], funnel[-1]["output"]) == ("10", "3")
    assert (
        "| seeds | static_filters | 40 | 25 | 62.5 | b: 10; a: 5 |"
        in (out / "funnel.md").read_text()
    )
    assert_png(out / "funnel.png")


def test_dataset_report_with_the_dataset_funnel_only(tmp_path):
    out = tmp_path / "report"
    dataset = str(write(tmp_path / "d.json", DATASET_FUNNEL))
    assert main(["report", "dataset", "--dataset-funnel", dataset, "--output-dir", str(out)]) == 0
    _, funnel = read_csv(out / "funnel.csv")
    assert [row["stage"] for row in funnel] == ["dataset"] * 2 + ["overall"]


def test_bad_funnel_exits_2(tmp_path, capsys):
    bad = write(tmp_path / "d.json", {"steps": [{"step": "x", "input": -1, "output": 0}]})
    args = ["report", "dataset", "--dataset-funnel", str(bad), "--output-dir", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'input' must be a count" in err and str(bad) in err


def test_training_report(tmp_path):
    loss = tmp_path / "loss.csv"
    loss.write_text(
        LOSS_HEADER
        + "".join(f"{s},{s / 10},{2.0 / s},1e-5,{100 * s},50,120,900.0,1\n" for s in range(1, 6))
        + "".join(f"{s},{s / 10},{2.0 / s},1e-5,{100 * s},50,120,900.0,2\n" for s in range(6, 9))
    )
    out = tmp_path / "report"
    assert main(["report", "training", "--loss", str(loss), "--output-dir", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["loss.png"]
    assert_png(out / "loss.png")
    first = (out / "loss.png").read_bytes()
    assert main(["report", "training", "--loss", str(loss), "--output-dir", str(out)]) == 0
    assert (out / "loss.png").read_bytes() == first and b"matplotlib" not in first


def test_training_report_of_a_training_skipped_for_too_few_pairs(tmp_path, capsys):
    from selfcodealign.train import skip

    model = tmp_path / "model"
    skip.write_marker(model, skip.check(2, 3, "sft.jsonl"))
    out = tmp_path / "report"
    args = ["report", "training", "--loss", str(model / "loss.csv"), "--output-dir", str(out)]
    assert main(args) == 0
    assert [p.name for p in out.iterdir()] == ["loss.png"]
    assert_png(out / "loss.png")
    assert capsys.readouterr().out == "no training ran: too few pairs (2 < 3)\n"


def test_training_report_without_the_loss_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "loss.csv"
    assert main(["report", "training", "--loss", str(missing), "--output-dir", str(tmp_path)]) == 2
    assert f"error: {missing}: No such file" in capsys.readouterr().err


# --- funnel rows and plots ----------------------------------------------------------------------


def test_funnel_rows_chain_and_overall():
    funnels = {"seeds": SEED_FUNNEL, "dataset": DATASET_FUNNEL}
    rows = [row for stage, f in funnels.items() for row in tables.funnel_rows(stage, f)]
    assert [row["step"] for row in rows] == [
        "extract",
        "static_filters",
        "dedup",
        "format_check",
        "execution",
    ]
    assert rows[1]["removed"] == "b: 10; a: 5"
    assert rows[1]["kept"] == pytest.approx(62.5)
    assert rows[0]["removed"] == ""
    overall = tables.funnel_overall(funnels)
    assert (overall["input"], overall["output"]) == (10, 3)
    assert overall["kept"] == pytest.approx(30.0)


def test_funnel_rejects_steps_without_counts():
    bad = {"steps": [{"step": "extract", "input": 3}]}
    with pytest.raises(tables.ReportInputError, match="'output' must be a count"):
        tables.check_funnel(bad, "f.json")


def test_markdown_cells_escape_pipes():
    (line,) = tables.markdown_table(["a"], [["x|y"]])[2:]
    assert line == "| x\\|y |"


def test_plots_with_no_data_still_draw(tmp_path):
    plots.comparison_plot([], tmp_path / "p.png", "t")
    plots.heatmap_plot(
        {"rows": [], "columns": [], "ours": [], "paper": []}, tmp_path / "h.png", "t"
    )
    plots.funnel_plot([], tmp_path / "f.png")
    plots.loss_plot([], tmp_path / "l.png")
    for name in ("p.png", "h.png", "f.png", "l.png"):
        assert_png(tmp_path / name)


@pytest.mark.parametrize("body", ["", "1,1.0,0.5,0.0,10,5,12,100.0,1\n"])
def test_loss_plot_with_zero_or_one_row(tmp_path, body):
    loss = tmp_path / "loss.csv"
    loss.write_text(LOSS_HEADER + body)
    points = plots.read_loss(loss)
    assert len(points) == len(body.splitlines())
    plots.loss_plot(points, tmp_path / "loss.png")
    assert_png(tmp_path / "loss.png")


def test_read_loss_skips_rows_without_a_loss(tmp_path):
    loss = tmp_path / "loss.csv"
    loss.write_text(LOSS_HEADER + "1,0.1,,0,1,1,1,1,1\n2,0.2,0.75,0,1,1,1,1,\n")
    assert plots.read_loss(loss) == [{"step": 2.0, "loss": 0.75, "run": 1}]


def test_funnel_plot_with_a_zero_count_on_a_log_scale(tmp_path):
    rows = [
        {"stage": "seeds", "step": "a", "output": 100000},
        {"stage": "dataset", "step": "b", "output": 0},
    ]
    plots.funnel_plot(rows, tmp_path / "f.png")
    assert_png(tmp_path / "f.png")
