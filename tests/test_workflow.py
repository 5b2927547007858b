"""The workflow end to end through Snakemake, on a shrunk demo config (the stdlib as seeds)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import copy_workflow, snakemake_env

pytestmark = pytest.mark.slow


# The shrunk demo's model is too briefly trained to yield training pairs reliably, so these
# tests stop at the dataset; the fine-tuning stage has tests of its own.
TARGET = "results/demo/dataset/sft.jsonl"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", TARGET, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )


def planned_rules(workdir: Path, configfile: str) -> set[str]:
    proc = snakemake(workdir, "-n", "--configfile", configfile)
    assert proc.returncode == 0, proc.stderr
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    # The demo, shrunk: a briefly trained model and a handful of seeds.
    config = yaml.safe_load((workdir / "config" / "demo.yaml").read_text())
    config["demo_model"]["steps"] = 40
    config["generation"].update(max_seeds=4, batch_size=4)
    for step in ("concepts", "instructions", "responses"):
        config["generation"][step]["max_tokens"] = 64
    (workdir / "config" / "fast.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(workdir, "--configfile", "config/fast.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir


def test_demo_writes_seeds_and_funnel(demo_run):
    seeds_dir = demo_run / "results" / "demo" / "seeds"
    seeds = [json.loads(line) for line in (seeds_dir / "seeds.jsonl").read_text().splitlines()]
    funnel = json.loads((seeds_dir / "funnel.json").read_text())
    assert len(seeds) > 50
    assert {"seed", "id", "sha1", "source", "path"} <= set(seeds[0])
    assert all(s["seed"].startswith(("def ", "async def ")) for s in seeds)
    assert len({s["id"] for s in seeds}) == len(seeds)
    steps = [step["step"] for step in funnel["steps"]]
    # the judge is off in the demo
    assert steps == ["extract", "static_filters", "typecheck", "dedup"]
    assert funnel["final"] == len(seeds)
    for step in funnel["steps"][1:]:
        assert step["input"] - sum(step["removed"].values()) == step["output"]
    # every shard's log and benchmark exists
    logs = demo_run / "results" / "demo" / "logs" / "seeds"
    assert (logs / "extract-0.log").exists() and (logs / "typecheck-1.log").exists()
    assert (demo_run / "results" / "demo" / "benchmarks" / "seeds" / "dedup.tsv").exists()


def variant(workdir: Path, name: str, edit) -> str:
    """A copy of the shrunk demo config with ``edit`` applied; returns its relative path."""
    config = yaml.safe_load((workdir / "config" / "fast.yaml").read_text())
    edit(config)
    (workdir / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return f"config/{name}.yaml"


# What follows the seed stage: generation, execution, selection.
AFTER_SEEDS = {"instruct_shard", "instruct_gather", "execute_shard", "execute_gather", "select"}


def test_rerun_with_nothing_changed_runs_nothing(demo_run):
    assert planned_rules(demo_run, "config/fast.yaml") == set()


def test_a_filter_setting_reruns_filters_and_what_follows_only(demo_run):
    changed = variant(demo_run, "filters", lambda c: c["seeds"].update(filters={"max_lines": 40}))
    assert planned_rules(demo_run, changed) == {
        "seeds_filter",
        "seeds_typecheck",
        "seeds_dedup",
        "seeds_gather",
        *AFTER_SEEDS,
    }


def test_a_dedup_setting_leaves_extraction_and_type_check_alone(demo_run):
    changed = variant(demo_run, "dedup", lambda c: c["seeds"].update(dedup={"threshold": 0.7}))
    assert planned_rules(demo_run, changed) == {"seeds_dedup", "seeds_gather", *AFTER_SEEDS}


def planned_jobs(workdir: Path, configfile: str) -> list[str]:
    """Output files of the jobs a dry run plans."""
    proc = snakemake(workdir, "-n", "--configfile", configfile)
    assert proc.returncode == 0, proc.stderr
    return re.findall(r"^\s+output: (.+)$", proc.stdout + proc.stderr, re.M)


def test_the_response_temperature_reruns_responses_only(demo_run):
    hot = variant(demo_run, "hot", lambda c: c["generation"]["responses"].update(temperature=0.9))
    outputs = planned_jobs(demo_run, hot)
    generation, dataset = "results/demo/generation", "results/demo/dataset"
    # responses and what follows from them; seeds, concepts, instructions stay as they are
    assert sorted(outputs) == sorted(
        [
            f"{generation}/responses/shard-0.jsonl",
            f"{generation}/responses/shard-1.jsonl",
            f"{generation}/responses.jsonl, {generation}/counts/responses.json",
            f"{dataset}/execution/shard-0.jsonl",
            f"{dataset}/execution/shard-1.jsonl",
            f"{dataset}/execution.jsonl",
            f"{dataset}/sft.jsonl, {dataset}/funnel.json, {dataset}/instruction_stats.json",
        ]
    )


def test_a_selection_setting_reruns_selection_only(demo_run):
    failures = variant(demo_run, "failures", lambda c: c["selection"].update(mode="failures_only"))
    assert planned_rules(demo_run, failures) == {"select"}


def test_selection_writes_the_dataset_and_its_funnel(demo_run):
    dataset = demo_run / "results" / "demo" / "dataset"
    funnel = json.loads((dataset / "funnel.json").read_text())
    assert funnel["steps"][0]["step"] == "format_check"
    assert funnel["mode"] == "passes_only"
    responses = json.loads(
        (demo_run / "results" / "demo" / "generation" / "counts" / "responses.json").read_text()
    )
    assert funnel["steps"][0]["input"] == responses["output"]
    rows = (dataset / "sft.jsonl").read_text().splitlines()
    assert len(rows) == funnel["final"]
    executions = (dataset / "execution.jsonl").read_text().splitlines()
    assert len(executions) == responses["output"]
    assert all(json.loads(r)["isolation"] == "bwrap" for r in executions)


def test_generation_writes_gathered_files_with_counts(demo_run):
    generation = demo_run / "results" / "demo" / "generation"
    for step in ("concepts", "instructions", "responses"):
        assert (generation / f"{step}.jsonl").exists()
        counts = json.loads((generation / "counts" / f"{step}.json").read_text())
        assert counts["step"] == step
        assert counts["input"] == counts["output"] + sum(counts["removed"].values())
    concepts = json.loads((generation / "counts" / "concepts.json").read_text())
    assert concepts["input"] == 4  # max_seeds
    responses = json.loads((generation / "counts" / "responses.json").read_text())
    instructions = json.loads((generation / "counts" / "instructions.json").read_text())
    assert responses["input"] == 2 * instructions["output"]  # n = 2 samples each
    assert (demo_run / "results" / "demo" / "demo-model" / "config.json").exists()


REPORT = "results/demo/report"
# The report, without the default target's fine-tuned model (see `evaluated`).
TO_REPORT = [f"{REPORT}/summary.json"]


@pytest.fixture(scope="module")
def evaluated(demo_run):
    """The shrunk demo evaluated (base model, paper prompt, short answers) and reported.

    Only the base model: the shrunk demo may select no training pairs (see TARGET), and a
    base-only evaluation waits for no training.
    """
    configfile = variant(
        demo_run,
        "evaluated",
        lambda c: c["evaluation"].update(
            models=["base"],
            prompts=["paper"],
            generation={**c["evaluation"]["generation"], "max_tokens": 16},
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *TO_REPORT, "--configfile", configfile],
        cwd=demo_run,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return demo_run, configfile


def test_evaluation_scores_every_task_with_its_provenance(evaluated):
    workdir, _ = evaluated
    result = json.loads((workdir / "results/demo/eval/base/humaneval-paper.json").read_text())
    assert result["model"] == "base" and result["benchmark"] == "humaneval"
    # the demo model has no chat template: a plain completion prompt, as EvalPlus does
    assert result["prompt_style"] == "completion"
    assert result["dataset_md5"] == "401e75ad986361dccc7afecb4121e295"
    assert result["generation"]["max_tokens"] == 16
    assert len(result["tasks"]) == 164
    assert 0.0 <= result["pass@1"]["plus"] <= result["pass@1"]["base"] <= 1.0
    assert result["isolation"] == "bwrap"


def test_report_tables_and_plots_are_written(evaluated):
    workdir, _ = evaluated
    report = workdir / REPORT
    with open(report / "pass_at_1.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["benchmark"], r["prompt"]) for r in rows] == [
        ("base", "HumanEval+", "paper")
    ]
    result = json.loads((workdir / "results/demo/eval/base/humaneval-paper.json").read_text())
    assert float(rows[0]["pass@1 plus (%)"]) == pytest.approx(100 * result["pass@1"]["plus"])
    with open(report / "funnel.csv", newline="") as handle:
        funnel = [row for row in csv.DictReader(handle) if row["stage"] != "overall"]
    assert list(dict.fromkeys(row["stage"] for row in funnel)) == ["seeds", "generation", "dataset"]
    for before, after in zip(funnel, funnel[1:], strict=False):
        # counts chain within the seeds and selection stages (generation turns rows into samples)
        if before["stage"] == after["stage"] != "generation":
            assert before["output"] == after["input"]
    for name in ("pass_at_1.png", "funnel.png", "loss.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_snakemake_report_renders_the_figures(evaluated, tmp_path):
    workdir, configfile = evaluated
    html = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", configfile, "--report", str(html)],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = html.read_text()
    assert text.lstrip().lower().startswith("<!doctype html")
    for name in ("pass_at_1.png", "funnel.png", "loss.png", "pass_at_1.csv", "funnel.csv"):
        assert name in text


def test_a_scoring_setting_rescores_without_regenerating(evaluated):
    workdir, configfile = evaluated
    config = yaml.safe_load((workdir / configfile).read_text())
    config["evaluation"]["scoring"]["min_time_limit"] = 2.0
    (workdir / "config" / "rescore.yaml").write_text(yaml.safe_dump(config))
    planned = planned_rules_for(workdir, "config/rescore.yaml")
    assert planned == {"evaluate", "report"}


def test_the_answer_length_regenerates_samples_but_nothing_before(evaluated):
    workdir, configfile = evaluated
    config = yaml.safe_load((workdir / configfile).read_text())
    config["evaluation"]["generation"]["max_tokens"] = 32
    (workdir / "config" / "longer.yaml").write_text(yaml.safe_dump(config))
    assert planned_rules_for(workdir, "config/longer.yaml") == {"codegen", "evaluate", "report"}


def planned_rules_for(workdir: Path, configfile: str) -> set[str]:
    """Rules a dry run up to the report plans."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "-n", *TO_REPORT]
        + ["--configfile", configfile],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert proc.returncode == 0, proc.stderr
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M)) - {"all"}
