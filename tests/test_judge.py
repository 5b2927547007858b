"""The docstring judge: prompt construction, verdict parsing, and a real tiny model run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selfcodealign.config import validate_section
from selfcodealign.funnel import StepCounts
from selfcodealign.generation import Backend, Completion, SamplingSettings
from selfcodealign.seeds.judge import (
    build_prompt,
    judge_records,
    load_judge_prompt,
    parse_verdict,
    split_docstring,
)

SETTINGS = validate_section({"batch_size": 2}, "seeds", "judge")
FUNCTION = 'def half(x):\n    """Return half of x."""\n    return x / 2\n'


def test_prompt_has_four_good_and_five_bad_examples_two_of_them_mismatched():
    prompt = load_judge_prompt()
    answers = [example["answer"] for example in prompt["examples"]]
    assert sorted(answers) == ["No"] * 5 + ["Yes"] * 4
    # every example has a docstring to show apart from its code
    assert all(split_docstring(e["function"])[1] for e in prompt["examples"])
    mismatched = [e for e in prompt["examples"] if "def top_scores" in e["function"]]
    assert mismatched and mismatched[0]["answer"] == "No"


def test_the_docstring_is_shown_apart_from_the_code():
    code, docstring = split_docstring(
        'def area(w, h):\n    """Area of a\n    rectangle."""\n    return w * h\n'
    )
    assert code == "def area(w, h):\n    return w * h\n"
    assert docstring == "Area of a\nrectangle."
    assert split_docstring("def f(:\n") == ("def f(:\n", "")


def test_prompt_is_deterministic_per_row_and_shuffled_across_rows():
    first = build_prompt(FUNCTION, row_seed=3407)
    assert first == build_prompt(FUNCTION, row_seed=3407)
    orders = {build_prompt(FUNCTION, row_seed=3407 + i) for i in range(20)}
    assert len(orders) > 10
    question = load_judge_prompt()["question"]
    # nine answered examples, then the query left for the model to answer
    assert first.count(question) == 10
    assert first.endswith(f"return x / 2\n```\nDocstring:\nReturn half of x.\n\n{question}")


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        (" Yes", "yes"),
        ("yes.", "yes"),
        (" No\n", "no"),
        ("Yes, yes, no", "yes"),
        ("No. Yes? No", "no"),
        ("Yes no", "unclear"),
        ("Maybe", "unclear"),
        ("", "unclear"),
        ("Nothing", "unclear"),  # "no" only as a word
    ],
)
def test_verdict_is_the_majority_of_yes_and_no(text, verdict):
    assert parse_verdict(text) == verdict


class ScriptedBackend(Backend):
    """Answers from a script, recording the prompts: checks the step's bookkeeping only."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.prompts: list[str] = []

    def generate(self, prompts, sampling: SamplingSettings):
        assert sampling.temperature == 0 and sampling.max_tokens == 5 and sampling.stop == ("\n",)
        self.prompts += prompts
        return [[Completion(self.answers.pop(0), "stop")] for _ in prompts]


def test_keep_on_yes_and_count_the_rest():
    records = [{"id": str(i), "seed": FUNCTION} for i in range(5)]
    backend = ScriptedBackend([" Yes", " No", " Yes", " hmm", " No"])
    counts = StepCounts("docstring_judge")
    kept = list(judge_records(records, backend, SETTINGS, seed=3407, counts=counts))
    assert [r["id"] for r in kept] == ["0", "2"]
    assert dict(counts.removed) == {"judge_no": 2, "judge_unclear": 1}
    # row i's prompt uses seed + i, whatever the batching
    assert backend.prompts == [build_prompt(FUNCTION, 3407 + i) for i in range(5)]


def test_judge_runs_a_real_model(tiny_model):
    from selfcodealign.generation import load_backend

    backend = load_backend({"name": str(tiny_model), "backend": "transformers", "dtype": "float32"})
    records = [{"id": str(i), "seed": FUNCTION} for i in range(3)]
    counts = StepCounts("docstring_judge")
    kept = list(judge_records(records, backend, SETTINGS, seed=1, counts=counts))
    assert counts.input == 3
    assert counts.output == len(kept)
    assert counts.output + sum(counts.removed.values()) == 3


def _judge_cli(model: Path, rows: Path, output: Path, *extra: str) -> list[str]:
    settings = {"batch_size": 2, "max_tokens": 5}
    model_section = {"name": str(model), "backend": "transformers", "dtype": "float32"}
    return [
        sys.executable, "-m", "selfcodealign", "seeds", "judge",
        "--settings", json.dumps(settings), "--model", json.dumps(model_section),
        "--seed", "7", "--input", str(rows), "--output", str(output), *extra,
    ]  # fmt: skip


def test_sharded_judge_gathers_to_what_one_job_judges(tiny_model, tmp_path: Path):
    """Shards of the judge, killed for real and resumed, then gathered: the same seeds and
    counts as one uninterrupted job (a row's prompt depends on its index only)."""
    rows = tmp_path / "deduplicated.jsonl"
    functions = [FUNCTION.replace("add", f"add{i}") for i in range(12)]
    rows.write_text("".join(json.dumps({"id": str(i), "seed": f}) + "\n"
                            for i, f in enumerate(functions)))  # fmt: skip
    whole = tmp_path / "whole.jsonl"
    assert subprocess.run(_judge_cli(tiny_model, rows, whole), capture_output=True).returncode == 0

    shards = [tmp_path / f"shard-{i}.jsonl" for i in range(2)]
    partial = shards[0].with_name(shards[0].name + ".partial")
    job = subprocess.Popen(_judge_cli(tiny_model, rows, shards[0], "--shard", "0", "--shards", "2"),
                           stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        if partial.exists() and partial.read_text().count("\n") >= 1 + 2:  # fingerprint + rows
            break
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    killed_with = partial.read_text().count("\n") - 1
    assert killed_with >= 2 and not shards[0].exists()
    for index, shard in enumerate(shards):
        command = _judge_cli(tiny_model, rows, shard, "--shard", str(index), "--shards", "2")
        again = subprocess.run(command, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr[-2000:]
        if index == 0:  # the killed shard continued from the verdicts it had written
            assert f"({killed_with} resumed)" in again.stderr, again.stderr[-2000:]

    def gather(inputs: list[Path], name: str) -> tuple[list[dict], dict]:
        out, counts = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.counts.json"
        command = [sys.executable, "-m", "selfcodealign", "seeds", "judge-gather", "--inputs",
                   *map(str, inputs), "--output", str(out), "--counts", str(counts)]  # fmt: skip
        assert subprocess.run(command, capture_output=True).returncode == 0
        return [json.loads(line) for line in out.read_text().splitlines()], json.loads(
            counts.read_text()
        )

    kept_whole, counts_whole = gather([whole], "gathered-whole")
    kept_shards, counts_shards = gather(shards, "gathered-shards")
    assert counts_whole["input"] == 12 and counts_shards == counts_whole
    assert kept_shards == kept_whole
    assert all(set(row) == {"id", "seed"} for row in kept_whole)
