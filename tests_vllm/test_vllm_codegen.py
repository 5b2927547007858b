"""Evaluation samples through vLLM (the default evaluation backend), on CPU, with a tiny model
that carries the training chat template (as a fine-tuned model does)."""

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))


MINI = REPO / "resources" / "humanevalplus" / "HumanEvalPlus-Mini-v0.1.10.jsonl.gz"
TASKS = 6


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    from selfcodealign.train.prompt import attach_chat_template
    from tiny_model import build_tiny_model, fixed_texts
    from transformers import AutoTokenizer

    directory = build_tiny_model(tmp_path_factory.mktemp("tiny-chat"), fixed_texts())
    tokenizer = AutoTokenizer.from_pretrained(directory)
    attach_chat_template(tokenizer)
    tokenizer.save_pretrained(directory)
    return directory


def test_vllm_writes_one_sample_per_task_through_the_chat_template(chat_model, tmp_path):
    lines = gzip.decompress(MINI.read_bytes()).splitlines(True)[:TASKS]
    data = tmp_path / "HumanEvalPlus-Mini-v0.1.10.jsonl"
    data.write_bytes(b"".join(lines))
    pin = {"version": "v0.1.10", "md5": hashlib.md5(data.read_bytes()).hexdigest()}
    settings = {"backend": "vllm", "max_tokens": 8, "batch_size": 4, "gpus": 0}
    # On CPU, gpu_memory_utilization is the share of host memory vLLM reserves: keep it small.
    model = {"name": str(chat_model), "dtype": "float32", "gpu_memory_utilization": 0.15,
             "max_model_len": 4096}  # fmt: skip
    samples, meta = tmp_path / "samples.jsonl", tmp_path / "meta.json"
    run = subprocess.run(
        [sys.executable, "-m", "selfcodealign", "codegen", "--settings", json.dumps(settings),
         "--benchmark", "humaneval", "--pin", json.dumps(pin), "--dataset", str(data),
         "--model", json.dumps(model), "--model-kind", "finetuned", "--prompt", "paper",
         "--output", str(samples), "--meta", str(meta)],
        capture_output=True, text=True, timeout=600, env={**os.environ},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [row["task_id"] for row in rows] == [f"HumanEval/{i}" for i in range(TASKS)]
    assert all(row["tokens"] <= 8 for row in rows)
    assert all(row["finish_reason"] in ("stop", "length") for row in rows)
    provenance = json.loads(meta.read_text())
    assert provenance["prompt_style"] == "chat"
    assert provenance["generation"]["backend"] == "vllm"
    assert provenance["codegen"]["tasks"] == TASKS
