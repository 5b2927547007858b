"""Evaluation samples: prompts in both conventions, a real tiny model's greedy samples written
resumably, and scored by EvalPlus through the ``evaluate`` command with their provenance."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HUMANEVALPLUS_MINI, REPO
from selfcodealign.evaluate.codegen import generate_samples
from selfcodealign.evaluate.datasets import load_dataset
from selfcodealign.evaluate.prompts import (
    PAPER_HEADER,
    build_prompt,
    to_solution,
)
from selfcodealign.generation.hf import TransformersBackend
from selfcodealign.train.prompt import RESPONSE_HEADER, attach_chat_template

MINI_MD5 = "401e75ad986361dccc7afecb4121e295"
TASK = {
    "task_id": "HumanEval/9999",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n',
    "entry_point": "add",
}


SUBSET = 24  # tasks: the tiny model's long prompts make every task cost on CPU


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> tuple[Path, str]:
    """The first tasks of HumanEval+ Mini as their own dataset file, and its md5."""
    lines = load_dataset("humaneval", HUMANEVALPLUS_MINI, MINI_MD5).content.splitlines(True)
    path = tmp_path_factory.mktemp("subset") / "HumanEvalPlus-Mini-v0.1.10.jsonl"
    path.write_bytes(b"".join(lines[:SUBSET]))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mini(subset):
    return load_dataset("humaneval", subset[0], subset[1])


def tokenizer_of(model_dir: Path, chat: bool):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if chat:
        attach_chat_template(tokenizer)
    return tokenizer


@pytest.fixture(scope="module")
def chat_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with the training chat template saved in its tokenizer (as the fine-tuned
    model directory has it)."""
    from transformers import AutoModelForCausalLM

    directory = tmp_path_factory.mktemp("chat-model")
    tokenizer_of(tiny_model, chat=True).save_pretrained(directory)
    AutoModelForCausalLM.from_pretrained(tiny_model).save_pretrained(directory)
    return directory


def test_paper_prompt_asks_for_a_function_and_prefills_a_fence(tiny_model):
    prompt = build_prompt(TASK, "paper", "humaneval", tokenizer_of(tiny_model, chat=True))
    assert prompt.style == "chat"
    instruction = f"{PAPER_HEADER}\n```python\n{TASK['prompt'].strip()}\n```"
    assert instruction in prompt.text
    assert prompt.text.endswith(f"{RESPONSE_HEADER}```python\n")
    assert prompt.stop == ("\n```",)


MBPP_TASKS = [
    {
        "task_id": "Mbpp/2",
        "prompt": '"""\nWrite a function to find the shared elements from the given two lists.\n'
        'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"""\n',
        "entry_point": "similar_elements",
    },
    {  # no final period, an assertion spread over two lines, text before the quotes
        "task_id": "Mbpp/9999",
        "prompt": '# header\n"""\nWrite a python function to count the rotations\n'
        "assert count_rotations('aaaa') == 1\nassert count_rotations('ab') == 2\n\"\"\"\n",
        "entry_point": "count_rotations",
    },
]


@pytest.mark.parametrize("task", MBPP_TASKS, ids=lambda t: t["task_id"])
def test_paper_mbpp_prompt_is_description_then_fenced_assertion(tiny_model, task):
    tokenizer = tokenizer_of(tiny_model, chat=True)
    # The construction, written from its description: the text between the outer triple
    # quotes, split at the first assert; a period added; no header; a fence prefilled.
    inner = task["prompt"].split('"""')[1]
    description, assertion = inner.split("assert", 1)
    description = description.strip()
    description += "" if description.endswith(".") else "."
    instruction = description + "\n\n```python\nassert" + assertion.rstrip() + "\n```"
    expected = tokenizer.apply_chat_template(
        [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
    )
    prompt = build_prompt(task, "paper", "mbpp", tokenizer)
    assert prompt.text == expected + "```python\n"
    assert PAPER_HEADER not in prompt.text and '"""' not in prompt.text
    assert prompt.stop == ("\n```",)


def _installed_evalplus_chat_settings() -> tuple[dict[str, str], list[str]]:
    """The default prefixes and the chat stop strings, read from the installed EvalPlus's own
    source (they are local variables there, not importable names)."""
    import ast
    import inspect

    import evalplus.codegen
    import evalplus.provider.hf

    prefixes: dict[str, str] = {}
    for node in ast.walk(ast.parse(inspect.getsource(evalplus.codegen.run_codegen))):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("instruction_prefix", "response_prefix") and name not in prefixes:
                prefixes[name] = ast.literal_eval(node.value)  # the first: the default
    stops = [
        ast.literal_eval(node.value)
        for node in ast.walk(ast.parse(inspect.getsource(evalplus.provider.hf)))
        if isinstance(node, ast.AugAssign)
        and getattr(node.target, "attr", None) == "eos"
        and isinstance(node.value, ast.List)  # the chat stops (a call adds base-model ones)
    ]
    return prefixes, [stop for group in stops for stop in group]


def test_evalplus_prompt_uses_the_installed_evalplus_prefixes_and_stops(tiny_model):
    from evalplus.provider.utility import EOS

    prefixes, chat_stops = _installed_evalplus_chat_settings()
    assert set(prefixes) == {"instruction_prefix", "response_prefix"} and chat_stops
    prompt = build_prompt(TASK, "evalplus", "humaneval", tokenizer_of(tiny_model, chat=True))
    assert prompt.style == "chat"
    assert prefixes["instruction_prefix"] in prompt.text and PAPER_HEADER not in prompt.text
    assert prefixes["response_prefix"] in prompt.text
    assert prompt.text.endswith("```python\n")
    assert prompt.stop == (*EOS, *chat_stops)


@pytest.mark.parametrize("convention", ["paper", "evalplus"])
def test_a_model_without_chat_template_gets_a_plain_completion_prompt(tiny_model, convention):
    tokenizer = tokenizer_of(tiny_model, chat=False)
    prompt = build_prompt(TASK, convention, "humaneval", tokenizer)
    assert prompt.style == "completion"
    assert prompt.text == TASK["prompt"].strip() + "\n"
    assert "\ndef " in prompt.stop  # EvalPlus's extra stops for direct completion
    mbpp = build_prompt(TASK, convention, "mbpp", tokenizer)
    assert "\nassert" in mbpp.stop and "\ndef " not in mbpp.stop
    solution, raw = to_solution(prompt, "    return a + b\n", "add")
    assert raw.startswith(TASK["prompt"].strip())
    namespace: dict = {}
    exec(solution, namespace)  # noqa: S102 (our own known code)
    assert namespace["add"](2, 3) == 5


def test_a_base_model_with_a_chat_template_can_be_forced_to_completion(tiny_model):
    tokenizer = tokenizer_of(tiny_model, chat=True)
    forced = build_prompt(TASK, "paper", "humaneval", tokenizer, force_completion=True)
    assert forced.style == "completion" and forced.text == TASK["prompt"].strip() + "\n"
    assert build_prompt(TASK, "paper", "humaneval", tokenizer).style == "chat"


def test_a_bos_token_rendered_by_the_template_is_not_doubled(tiny_model, tmp_path):
    from tokenizers import processors
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.add_special_tokens({"bos_token": "<s>"})
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)]
    )
    assert tokenizer("x")["input_ids"][0] == bos
    attach_chat_template(tokenizer)  # renders bos_token, since this tokenizer adds one
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.startswith("<s>")
    prompt = build_prompt(TASK, "paper", "humaneval", tokenizer)
    assert tokenizer(prompt.text)["input_ids"].count(bos) == 1


def test_sanitizing_keeps_the_function_and_drops_stray_code(tiny_model):
    prompt = build_prompt(TASK, "paper", "humaneval", tokenizer_of(tiny_model, chat=True))
    completion = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\nwhile True: pass\n"
    solution, raw = to_solution(prompt, completion, "add")
    assert "def add" in solution and "print(" not in solution and "while True" not in solution
    assert raw == completion


def run_codegen(mini, model: Path, output: Path, backend, convention="paper") -> dict:
    return generate_samples(
        mini,
        backend,
        tokenizer_of(model, chat=False),
        convention=convention,
        max_tokens=8,
        batch_size=10,
        output=output,
        fingerprint_parts={"model": str(model)},
    )


def test_samples_cover_every_task_in_order(mini, chat_model, tmp_path):
    whole = tmp_path / "whole.jsonl"
    run = run_codegen(mini, chat_model, whole, TransformersBackend(str(chat_model)))
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    assert [row["task_id"] for row in rows] == list(mini.tasks)
    assert all({"solution", "raw_solution", "finish_reason", "tokens"} <= set(row) for row in rows)
    assert run["tasks"] == SUBSET and sum(run["finish_reasons"].values()) == SUBSET


def test_a_codegen_job_killed_for_real_resumes_to_the_same_file(chat_model, subset, tmp_path):
    """SIGKILL mid-run (as a scheduler does at the time limit), then the same command again:
    the rows done are kept, and the file equals an uninterrupted run's byte for byte."""
    path, md5 = subset
    pin = {"version": "v0.1.10", "md5": md5, "path": str(path)}
    data = tmp_path / "humaneval.jsonl"
    assert cli("benchmark-data", "--benchmark", "humaneval", "--pin", json.dumps(pin),
               "--output", str(data)).returncode == 0  # fmt: skip
    settings = {"backend": "transformers", "max_tokens": 24, "batch_size": 2, "gpus": 0}

    def command(output: Path) -> list[str]:
        return [
            sys.executable, "-m", "selfcodealign", "codegen", "--settings", json.dumps(settings),
            "--benchmark", "humaneval", "--pin", json.dumps(pin), "--dataset", str(data),
            "--model", json.dumps({"name": str(chat_model)}), "--model-kind", "finetuned",
            "--prompt", "paper", "--output", str(output), "--meta", f"{output}.meta.json",
        ]  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    whole = tmp_path / "whole.jsonl"
    assert subprocess.run(command(whole), env=env, capture_output=True).returncode == 0
    resumed = tmp_path / "resumed.jsonl"
    partial = resumed.with_name(resumed.name + ".partial")
    job = subprocess.Popen(command(resumed), env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if partial.exists() and partial.read_text().count("\n") >= 1 + 4:  # fingerprint + rows
            break
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL and not resumed.exists()
    done = partial.read_text().count("\n") - 1
    assert 4 <= done < SUBSET, done
    again = subprocess.run(command(resumed), env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{done} of {SUBSET} tasks already done" in again.stderr
    assert resumed.read_bytes() == whole.read_bytes()


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    return subprocess.run(
        [sys.executable, "-m", "selfcodealign", *args],
        capture_output=True,
        text=True,
        env=env,
    )


def test_codegen_then_evaluate_records_scores_with_provenance(chat_model, subset, tmp_path):
    path, md5 = subset
    pin = {"version": "v0.1.10", "md5": md5, "path": str(path)}
    data = tmp_path / "humaneval.jsonl"
    fetched = cli("benchmark-data", "--benchmark", "humaneval", "--pin", json.dumps(pin),
                  "--output", str(data))  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    assert f"{SUBSET} tasks" in fetched.stdout

    samples, meta, result = tmp_path / "s.jsonl", tmp_path / "s.meta.json", tmp_path / "r.json"
    settings = {"backend": "transformers", "max_tokens": 8, "batch_size": 64, "gpus": 0}
    made = cli(
        "codegen", "--settings", json.dumps(settings), "--benchmark", "humaneval",
        "--pin", json.dumps(pin), "--dataset", str(data),
        "--model", json.dumps({"name": str(chat_model)}), "--model-kind", "finetuned",
        "--prompt", "evalplus", "--output", str(samples), "--meta", str(meta),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    scored = cli(
        "evaluate", "--samples", str(samples), "--meta", str(meta), "--dataset", "humaneval",
        "--dataset-path", str(data), "--dataset-md5", md5, "--output", str(result),
        "--parallel", "2",
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-2000:]
    summary = json.loads(result.read_text())
    assert summary["model"] == "finetuned" and summary["prompt"] == "evalplus"
    assert summary["prompt_style"] == "chat"
    assert summary["generation"]["max_tokens"] == 8
    assert summary["generation"]["temperature"] == 0.0
    assert summary["dataset_md5"] == md5 and summary["dataset_version"] == "v0.1.10"
    assert list(summary["tasks"]) == [f"HumanEval/{i}" for i in range(SUBSET)]
    assert set(summary["pass@1"]) == {"base", "plus"}
    passed = sum(rows[0]["base"] == "pass" for rows in summary["tasks"].values())
    assert summary["pass@1"]["base"] == pytest.approx(passed / SUBSET)


def test_a_pinned_sha256_mismatch_stops_the_fetch(tmp_path):
    pin = {"version": "v0.1.10", "sha256": "0" * 64, "path": str(HUMANEVALPLUS_MINI)}
    out = tmp_path / "humaneval.jsonl"
    fetched = cli("benchmark-data", "--benchmark", "humaneval", "--pin", json.dumps(pin),
                  "--output", str(out))  # fmt: skip
    assert fetched.returncode == 2
    assert f"but {'0' * 64} is pinned" in fetched.stderr
    assert "Traceback" not in fetched.stderr
    assert not out.exists()
