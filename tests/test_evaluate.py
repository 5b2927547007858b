"""Scoring with EvalPlus's own evaluator on HumanEval+ Mini (real EvalPlus, real bubblewrap).

EvalPlus 0.3.1 fails the canonical solution of HumanEval/32 (find_zero: Newton's method stops at
|f(x)| < 1e-5, the oracle wants <= atol): that is EvalPlus's own verdict, so the tests expect it
and check it against a direct EvalPlus run on the same file.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HUMANEVALPLUS, HUMANEVALPLUS_MINI
from selfcodealign.cli import main
from selfcodealign.evaluate.datasets import DatasetHashMismatch, evalplus_env, load_dataset
from selfcodealign.evaluate.scoring import score_samples

MINI_MD5 = "401e75ad986361dccc7afecb4121e295"
FULL_MD5 = "fe585eb4df8c88d844eeb463ea4d0302"
EVALPLUS_OWN_FAILURES = {"HumanEval/32"}
WRONG = ["HumanEval/0", "HumanEval/10", "HumanEval/53", "HumanEval/163"]


@pytest.fixture(scope="module")
def mini() -> Path:
    return HUMANEVALPLUS_MINI


@pytest.fixture(scope="module")
def problems(mini) -> list[dict]:
    with gzip.open(mini, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_samples(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def wrong_body(problem: dict) -> str:
    return problem["prompt"] + "    return None\n"


def test_load_dataset_checks_the_unzipped_md5(mini, tmp_path):
    dataset = load_dataset("humaneval", mini, MINI_MD5)
    assert (dataset.version, dataset.md5, len(dataset.tasks)) == ("v0.1.10", MINI_MD5, 164)
    # the same content unzipped, and through a URL (the release-download code path)
    plain = tmp_path / "HumanEvalPlus-Mini-v0.1.10.jsonl"
    plain.write_bytes(gzip.decompress(mini.read_bytes()))
    assert load_dataset("humaneval", plain, MINI_MD5).md5 == MINI_MD5
    assert load_dataset("humaneval", plain.as_uri(), MINI_MD5).md5 == MINI_MD5
    written = dataset.write(tmp_path / "out")
    assert evalplus_env(dataset, written) == {"HUMANEVAL_OVERRIDE_PATH": str(written)}
    if HUMANEVALPLUS.exists():
        assert load_dataset("humaneval", HUMANEVALPLUS, FULL_MD5).md5 == FULL_MD5


def test_hash_mismatch_is_a_clear_error(mini):
    with pytest.raises(DatasetHashMismatch, match=f"{MINI_MD5}.*but {FULL_MD5} is pinned"):
        load_dataset("humaneval", mini, FULL_MD5)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("humaneval-x", mini, MINI_MD5)


def test_hash_mismatch_fails_the_command(mini, tmp_path, capsys):
    samples = write_samples(tmp_path / "s.jsonl", [])
    assert run_command(samples, mini, FULL_MD5, tmp_path / "r.json") == 2
    assert "is pinned" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_canonical_completions_score_everything(mini, problems, tmp_path):
    """Completion format (prompt + completion): all pass, base and plus."""
    samples = write_samples(
        tmp_path / "canonical.jsonl",
        [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems],
    )
    dataset = load_dataset("humaneval", mini, MINI_MD5)
    summary = score_samples(samples, dataset, tmp_path / "work")
    failing = {
        t for t, rows in summary["tasks"].items() if rows != [{"base": "pass", "plus": "pass"}]
    }
    assert failing == EVALPLUS_OWN_FAILURES
    assert summary["pass@1"] == {"base": 163 / 164, "plus": 163 / 164}
    assert summary["dataset_md5"] == MINI_MD5 and summary["dataset_version"] == "v0.1.10"
    assert summary["isolation"] in ("bwrap", "apptainer")


def run_command(
    samples: Path, dataset: Path, md5: str, output: Path, meta: Path | None = None
) -> int:
    return main(
        ["evaluate", "--samples", str(samples), "--dataset", "humaneval"]
        + ["--dataset-path", str(dataset), "--dataset-md5", md5, "--output", str(output)]
        + (["--meta", str(meta)] if meta else [])
    )


def test_command_matches_evalplus_and_finds_wrong_tasks(mini, problems, tmp_path, capsys):
    """Solution format; a few `return None` bodies. The command's per-task statuses equal the
    ones EvalPlus itself writes for the same file (run directly, its own CLI)."""
    rows = [
        {
            "task_id": p["task_id"],
            "solution": wrong_body(p)
            if p["task_id"] in WRONG
            else p["prompt"] + p["canonical_solution"],
        }
        for p in problems
    ]
    direct = tmp_path / "direct"
    direct.mkdir()
    samples = write_samples(direct / "samples.jsonl", rows)
    plain = direct / "HumanEvalPlus-Mini-v0.1.10.jsonl"
    plain.write_bytes(gzip.decompress(mini.read_bytes()))
    evalplus = subprocess.Popen(  # in parallel with the command: EvalPlus idles 20 s at exit
        [sys.executable, "-m", "evalplus.evaluate", "--dataset", "humaneval"]
        + ["--samples", str(samples), "--parallel", "1"],
        env={**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(plain), "XDG_CACHE_HOME": str(direct)},
        cwd=direct,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = tmp_path / "result.json"
    assert run_command(samples, mini, MINI_MD5, output) == 0
    printed = capsys.readouterr().out
    summary = json.loads(output.read_text())
    failing = {t for t, rows in summary["tasks"].items() if rows[0]["base"] != "pass"}
    assert failing == set(WRONG) | EVALPLUS_OWN_FAILURES
    for task in WRONG:
        assert summary["tasks"][task] == [{"base": "fail", "plus": "fail"}]
    expected = (164 - len(WRONG) - 1) / 164
    assert summary["pass@1"] == {"base": expected, "plus": expected}
    assert f"pass@1 base: {expected:.4f}" in printed and f"pass@1 plus: {expected:.4f}" in printed

    log, _ = evalplus.communicate(timeout=120)
    assert evalplus.returncode == 0, log
    theirs = json.loads((direct / "samples_eval_results.json").read_text())
    assert theirs["hash"] == MINI_MD5
    assert {
        task: [{"base": r["base_status"], "plus": r["plus_status"]} for r in results]
        for task, results in theirs["eval"].items()
    } == summary["tasks"]
    # EvalPlus's printed pass@1 equals ours
    printed_by_evalplus = [float(x) for x in re.findall(r"pass@1:\s+([0-9.]+)", log)]
    assert printed_by_evalplus == [round(expected, 3)] * 2


def test_each_run_starts_from_a_fresh_directory(mini, problems, tmp_path):
    """A stale EvalPlus results file in the work directory is never reused."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "samples_eval_results.json").write_text('{"hash": "stale", "eval": {}}')
    samples = write_samples(
        tmp_path / "s.jsonl",
        [{"task_id": p["task_id"], "solution": wrong_body(p)} for p in problems],
    )
    summary = score_samples(samples, load_dataset("humaneval", mini, MINI_MD5), work)
    assert summary["pass@1"]["base"] < 0.2 and len(summary["tasks"]) == 164


def test_a_training_skipped_for_too_few_pairs_is_recorded_not_scored(mini, tmp_path, capsys):
    """codegen on a model directory holding only the skip marker generates nothing, and
    evaluate writes the marker with no pass@1 instead of running EvalPlus."""
    from selfcodealign.report.tables import check_eval
    from selfcodealign.train import skip

    model = tmp_path / "models" / "t"
    skip.write_marker(model, skip.check(3, 10, "data/d/sft.jsonl"))
    samples, meta, result = tmp_path / "s.jsonl", tmp_path / "s.meta.json", tmp_path / "r.json"
    pin = {"version": "v0.1.10", "md5": MINI_MD5, "path": str(mini)}
    settings = {"backend": "transformers", "max_tokens": 8, "batch_size": 64, "gpus": 0}
    made = main(
        ["codegen", "--settings", json.dumps(settings), "--benchmark", "humaneval"]
        + ["--pin", json.dumps(pin), "--dataset", str(mini)]
        + ["--model", json.dumps({"name": str(model)}), "--model-kind", "finetuned"]
        + ["--prompt", "paper", "--output", str(samples), "--meta", str(meta)]
    )
    assert made == 0
    assert samples.read_text() == ""  # no model, no samples
    marker = {"reason": "too_few_pairs", "pairs": 3, "min_pairs": 10, "dataset": "data/d/sft.jsonl"}
    assert json.loads(meta.read_text())["not_trained"] == marker

    assert run_command(samples, mini, MINI_MD5, result, meta) == 0
    summary = json.loads(result.read_text())
    assert summary["pass@1"] is None and summary["tasks"] == {}
    assert summary["not_trained"] == marker
    assert (summary["model"], summary["benchmark"], summary["prompt"]) == (
        "finetuned",
        "humaneval",
        "paper",
    )
    assert summary["dataset_md5"] == MINI_MD5
    assert not Path(f"{result}.evalplus").exists(), "EvalPlus never ran"
    assert "the model was not trained (too few pairs (3 < 10))" in capsys.readouterr().out
    assert check_eval(summary, str(result)) is summary  # the tables take it


def test_solution_assembly_the_papers_way_and_the_sanitized_way(mini, problems, tmp_path):
    """The same completions scored two ways. A bare function body passes only as prompt + code;
    a function followed by stray failing code passes only sanitized (the sanitizer drops it)."""
    from selfcodealign.evaluate.prompts import TaskPrompt, to_solution

    chat = TaskPrompt("", ("\n```",), "chat", "")
    body_only, stray = "HumanEval/0", "HumanEval/2"
    rows = []
    for p in problems:
        completion = p["prompt"] + p["canonical_solution"]
        if p["task_id"] == body_only:
            completion = p["canonical_solution"]
        elif p["task_id"] == stray:
            completion += "\nprint(name_that_is_not_defined)\n"
        solution, raw = to_solution(chat, completion, p["entry_point"])
        rows.append(
            {
                "task_id": p["task_id"],
                "solution": solution,
                "raw_solution": raw,
                "completion": completion,
            }  # fmt: skip
        )
    samples = write_samples(tmp_path / "samples.jsonl", rows)
    dataset = load_dataset("humaneval", mini, MINI_MD5)
    verdicts = {}
    for how in ("sanitized", "prompt_plus_code"):
        summary = score_samples(samples, dataset, tmp_path / how, solution=how)
        assert summary["solution"] == how
        verdicts[how] = {t for t, r in summary["tasks"].items() if r[0]["base"] != "pass"}
    assert verdicts["sanitized"] == {body_only} | EVALPLUS_OWN_FAILURES
    assert verdicts["prompt_plus_code"] == {stray} | EVALPLUS_OWN_FAILURES
    scored = [json.loads(line) for line in (tmp_path / "prompt_plus_code" / "samples.jsonl").open()]
    by_task = {row["task_id"]: row["solution"] for row in scored}
    assert by_task[body_only] == problems[0]["prompt"] + problems[0]["canonical_solution"]
    old_rows = [{"task_id": p["task_id"], "solution": "x"} for p in problems]
    with pytest.raises(ValueError, match="no 'completion'"):
        score_samples(
            write_samples(tmp_path / "old.jsonl", old_rows),
            dataset, tmp_path / "old", solution="prompt_plus_code",
        )  # fmt: skip
