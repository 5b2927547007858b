"""The report stage: pass@1 against the paper, the data funnel, the loss curve and figures."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from selfcodealign.cli import main
from selfcodealign.report import plots, tables
from selfcodealign.report.paper import load_paper_numbers, match_model, paper_number

REPO = Path(__file__).resolve().parents[1]
RUNNER = [sys.executable, "-m", "selfcodealign", "report"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
OUTPUTS = (
    "pass_at_1.md",
    "pass_at_1.csv",
    "pass_at_1.png",
    "funnel.md",
    "funnel.csv",
    "funnel.png",
    "loss.png",
    "summary.json",
)
LOSS_HEADER = "step,epoch,loss,learning_rate,tokens,loss_tokens,padded_tokens,tokens_per_s,run\n"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "workflow")}


def report(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*RUNNER, *map(str, args)], env=_env(), capture_output=True, text=True, timeout=120
    )


def evaluation(model: str, benchmark: str, prompt: str, base: float, plus: float, **extra):
    return {
        "model": model,
        "model_name": "/models/CodeQwen1.5-7B" if model == "base" else "results/x/finetuned",
        "benchmark": benchmark,
        "prompt": prompt,
        "prompt_style": "completion" if model == "base" else "chat",
        "dataset": benchmark,
        "dataset_version": "v0.1.10",
        "dataset_md5": "0" * 32,
        "pass@1": {"base": base, "plus": plus},
        "tasks": {"HumanEval/0": [{"base": "pass", "plus": "fail"}]},
        "generation": {"temperature": 0.0},
        "seconds": 1.5,
        **extra,
    }


# Written in an order unlike the table's, so sorting is tested too.
EVALS = [
    evaluation("finetuned", "mbpp", "paper", 0.75, 0.70),
    evaluation("finetuned", "humaneval", "evalplus", 0.5, 0.4),
    evaluation("base", "humaneval", "evalplus", 0.3, 0.2, extra_key=[1, 2]),
    evaluation("finetuned", "humaneval", "paper", 0.75, 0.671),
    evaluation("base", "humaneval", "paper", 0.5, 0.25),
    evaluation("base", "mbpp", "paper", 0.625, 0.5),
]

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


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def inputs(tmp_path) -> dict[str, object]:
    evals = [write(tmp_path / f"eval{i}.json", data) for i, data in enumerate(EVALS)]
    loss = tmp_path / "loss.csv"
    loss.write_text(
        LOSS_HEADER
        + "".join(f"{s},{s / 10},{2.0 / s},1e-5,{100 * s},50,120,900.0,1\n" for s in range(1, 6))
        + "".join(f"{s},{s / 10},{2.0 / s},1e-5,{100 * s},50,120,900.0,2\n" for s in range(6, 9))
    )
    return {
        "evals": evals,
        "seeds": write(tmp_path / "seeds.json", SEED_FUNNEL),
        "dataset": write(tmp_path / "dataset.json", DATASET_FUNNEL),
        "loss": loss,
        "out": tmp_path / "report",
    }


def full_args(inputs, base_model: str = "Qwen/CodeQwen1.5-7B") -> list[str]:
    args = [
        "--evals",
        *inputs["evals"],
        "--seed-funnel",
        inputs["seeds"],
        "--dataset-funnel",
        inputs["dataset"],
        "--loss",
        inputs["loss"],
        "--base-model",
        base_model,
        "--output-dir",
        inputs["out"],
    ]
    return [str(arg) for arg in args]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0


# --- paper numbers ----------------------------------------------------------------------------


def test_paper_numbers_match_by_id_case_and_directory():
    assert paper_number("Qwen/CodeQwen1.5-7B", "base", "humaneval", "paper") == (45.7, "Table 1")
    assert paper_number("qwen/codeqwen1.5-7b", "finetuned", "mbpp", "paper") == (65.2, "Table 1")
    assert paper_number("/models/CodeQwen1.5-7B/", "finetuned", "humaneval", "paper") == (
        67.1,
        "Table 1",
    )
    assert paper_number("bigcode/starcoder2-15b", "finetuned", "humaneval", "paper") == (
        55.5,
        "Table 8",
    )


def test_paper_numbers_only_for_the_paper_prompt_and_known_settings():
    assert paper_number("Qwen/CodeQwen1.5-7B", "base", "humaneval", "evalplus") is None
    assert paper_number("some/other-model", "base", "humaneval", "paper") is None
    assert paper_number(None, "base", "humaneval", "paper") is None
    # Table 8 reports HumanEval+ only.
    assert paper_number("bigcode/starcoder2-3b", "base", "mbpp", "paper") is None


def test_every_paper_entry_has_a_source_and_percentages():
    numbers = load_paper_numbers()
    assert {"Qwen/CodeQwen1.5-7B", "deepseek-ai/deepseek-coder-33b-base"} <= numbers.keys()
    for entry in numbers.values():
        assert entry["source"].startswith("Table ")
        for kind in ("base", "finetuned"):
            assert all(0 < value < 100 for value in entry[kind].values())
            assert set(entry[kind]) <= set(tables.BENCHMARKS)


def test_an_ambiguous_directory_name_matches_nothing():
    numbers = {"a/model": {}, "b/model": {}}
    assert match_model("/local/model", numbers) is None
    assert match_model("B/MODEL", numbers) == "b/model"


# --- tables -----------------------------------------------------------------------------------


def test_pass_rows_sorted_scaled_and_compared_with_the_paper():
    rows = tables.pass_at_1_rows(EVALS, "/models/CodeQwen1.5-7B")
    keys = [(row["benchmark"], row["prompt"], row["model"]) for row in rows]
    assert keys == [
        ("HumanEval+", "paper", "base"),
        ("HumanEval+", "paper", "finetuned"),
        ("HumanEval+", "evalplus", "base"),
        ("HumanEval+", "evalplus", "finetuned"),
        ("MBPP+", "paper", "base"),
        ("MBPP+", "paper", "finetuned"),
    ]
    first = rows[0]
    assert (first["base"], first["plus"]) == (50.0, 25.0)
    assert first["paper_plus"] == 45.7 and first["delta_plus"] == pytest.approx(25.0 - 45.7)
    assert rows[1]["delta_plus"] == pytest.approx(0.0)
    assert rows[5]["delta_plus"] == pytest.approx(70.0 - 65.2)
    assert all(row["paper_plus"] is None for row in rows if row["prompt"] == "evalplus")


def test_unknown_model_leaves_the_paper_column_empty(tmp_path):
    rows = tables.pass_at_1_rows(EVALS, "someone/unknown-7b")
    assert all(row["paper_plus"] is None and row["delta_plus"] is None for row in rows)
    tables.write_pass_at_1(tmp_path / "p.md", tmp_path / "p.csv", rows)
    _, csv_rows = read_csv(tmp_path / "p.csv")
    assert {row["paper plus (%)"] for row in csv_rows} == {""}
    assert "none for this base model" in (tmp_path / "p.md").read_text()


def test_without_base_model_the_base_evaluation_names_it():
    assert tables.default_base_model(EVALS) == "/models/CodeQwen1.5-7B"
    assert tables.default_base_model([e for e in EVALS if e["model"] != "base"]) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pass@1": None}, '"pass@1" must hold'),
        ({"pass@1": {"base": 0.5, "plus": 1.5}}, "between 0 and 1"),
        ({"model": "instruct"}, "model must be one of"),
    ],
)
def test_check_eval_rejects_bad_summaries(change, message):
    with pytest.raises(tables.ReportInputError, match=message):
        tables.check_eval({**EVALS[0], **change}, "x.json")


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


# --- plots ------------------------------------------------------------------------------------


def test_plots_with_no_data_still_draw(tmp_path):
    plots.pass_at_1_plot([], tmp_path / "p.png")
    plots.funnel_plot([], tmp_path / "f.png")
    plots.loss_plot([], tmp_path / "l.png")
    for name in ("p.png", "f.png", "l.png"):
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


# --- the command ------------------------------------------------------------------------------


def test_report_command_end_to_end(inputs):
    result = report(*full_args(inputs))
    assert result.returncode == 0, result.stderr
    out = inputs["out"]
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert result.stdout == (out / "pass_at_1.md").read_text()

    columns, rows = read_csv(out / "pass_at_1.csv")
    assert columns[:10] == list(tables.PASS_COLUMNS[:10])
    first = rows[0]
    assert (first["model"], first["benchmark"], first["prompt"]) == ("base", "HumanEval+", "paper")
    assert float(first["pass@1 plus (%)"]) == 25.0
    assert float(first["paper plus (%)"]) == 45.7
    assert float(first["delta plus"]) == pytest.approx(-20.7)
    assert first["dataset_version"] == "v0.1.10" and first["prompt_style"] == "completion"
    for row in rows:
        has_paper = row["paper plus (%)"] != ""
        assert has_paper == (row["prompt"] == "paper"), row

    md = (out / "pass_at_1.md").read_text()
    assert (
        "| base | /models/CodeQwen1.5-7B | HumanEval+ | paper | completion | v0.1.10 | 50.0 |" in md
    )
    assert "| 25.0 | 45.7 | -20.7 |" in md
    assert "Table 1" in md and "greedy" in md

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

    for name in ("pass_at_1.png", "funnel.png", "loss.png"):
        assert_png(out / name)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"]["pass_at_1_csv"] == "pass_at_1.csv"
    assert len(summary["pass_at_1"]) == len(EVALS) and len(summary["funnel"]) == 5
    assert summary["funnel_overall"]["output"] == 3 and summary["loss_points"] == 8
    assert summary["base_model"] == "Qwen/CodeQwen1.5-7B"


def test_report_is_byte_for_byte_repeatable(inputs, tmp_path):
    assert main(["report", *full_args(inputs)]) == 0
    first = {name: (inputs["out"] / name).read_bytes() for name in OUTPUTS}
    inputs["out"] = tmp_path / "again"
    assert main(["report", *full_args(inputs)]) == 0
    assert first == {name: (inputs["out"] / name).read_bytes() for name in OUTPUTS}
    assert b"matplotlib" not in first["loss.png"]


def test_report_without_evaluations(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--evals", "--output-dir", str(out)]) == 0
    assert "No evaluations" in capsys.readouterr().out
    columns, rows = read_csv(out / "pass_at_1.csv")
    assert columns == list(tables.PASS_COLUMNS) and rows == []
    assert "No funnel" in (out / "funnel.md").read_text()
    for name in ("pass_at_1.png", "funnel.png", "loss.png"):
        assert_png(out / name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"model": "base"}', "missing key(s) benchmark, prompt, pass@1"),
        ("{not json", "not valid JSON"),
        ('{"model": "base", "benchmark": "mbpp", "prompt": "paper", "pass@1": 0.5}', "pass@1"),
        (None, "No such file"),
    ],
)
def test_bad_evaluation_exits_2_with_one_line(inputs, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    inputs["evals"] = [*inputs["evals"], bad]
    result = report(*full_args(inputs))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert str(bad) in result.stderr
    assert not inputs["out"].exists(), "nothing is written from bad input"


def test_bad_funnel_exits_2(inputs):
    inputs["dataset"].write_text('{"steps": [{"step": "x", "input": -1, "output": 0}]}')
    result = report(*full_args(inputs))
    assert result.returncode == 2 and "'input' must be a count" in result.stderr
