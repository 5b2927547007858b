"""The Self-OSS-Instruct command-line steps: ``run`` one mode on one shard, ``gather`` shards."""

from __future__ import annotations

import argparse
import heapq
import logging
from collections.abc import Iterator

from selfcodealign.cli_args import add_settings, json_object
from selfcodealign.funnel import StepCounts
from selfcodealign.jsonl import read_jsonl, write_jsonl

log = logging.getLogger(__name__)

MODES = ("s2c", "c2i", "s2i", "i2r")
# The step each mode runs: also the name of its config section (generation.<step>).
STEP = {"s2c": "concepts", "c2i": "instructions", "s2i": "instructions", "i2r": "responses"}
# Fields only useful for debugging a shard; the gathered files leave them out.
# Settings of how prompts are built, apart from how completions are sampled.
PROMPT_SETTINGS = ("shots", "distinct_shots", "headings")
SHARD_ONLY = ("raw", "finish_reason", "status", "samples", "prompt_examples")


def _run(args: argparse.Namespace) -> int:
    from selfcodealign.config import validate_section
    from selfcodealign.generation import load_backend
    from selfcodealign.instruct.pool import POOL_PATH, load_pool
    from selfcodealign.instruct.runner import run_shard, shard_rows
    from selfcodealign.resumable import file_digest

    model = validate_section(args.model, "model")
    openai = validate_section(args.openai, "openai")
    limit = args.max_rows
    total = sum(1 for _ in shard_rows(read_jsonl(args.input), args.shard, args.shards, limit))
    backend = load_backend(model, gpus=args.gpus, openai=openai)
    try:
        stats = run_shard(
            args.mode,
            shard_rows(read_jsonl(args.input), args.shard, args.shards, limit),
            backend,
            pool=load_pool(),
            shots=args.settings["shots"],
            sampling={k: v for k, v in args.settings.items() if k not in PROMPT_SETTINGS},
            distinct_shots=args.settings.get("distinct_shots", False),
            headings=args.settings.get("headings", "plain"),
            seed=args.seed,
            batch_size=args.batch_size,
            output=args.output,
            total=total,
            fingerprint_parts={
                "model": model,
                "input": file_digest(args.input),
                "pool": file_digest(POOL_PATH),
                "shard": [args.shard, args.shards, limit],
            },
        )
    finally:
        backend.close()
    log.info("%s shard %d/%d: %s", args.mode, args.shard, args.shards, stats)
    return 0


def _merged(paths: list[str]) -> Iterator[dict]:
    """Rows of all shards in global row order (each shard file is already in order)."""
    return heapq.merge(*(read_jsonl(path) for path in paths), key=lambda r: r["row"])


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in SHARD_ONLY and k != "row"}


def gather_rows(mode: str, paths: list[str], counts: StepCounts) -> Iterator[dict]:
    for record in _merged(paths):
        if mode != "i2r":
            if record["status"] == "ok":
                counts.keep()
                yield _public(record)
            else:
                counts.drop(record["status"])
            continue
        counts.extra["instructions"] = counts.extra.get("instructions", 0) + 1
        for sample in record["samples"]:
            if sample["status"] != "ok":
                counts.drop(sample["status"])
                continue
            counts.keep()
            yield {
                **_public(record),
                "id": f"{record['id']}-{sample['sample']}",
                "instruction_id": record["id"],
                "sample": sample["sample"],
                "response": sample["response"],
                "tests": sample["tests"],
            }


def _gather(args: argparse.Namespace) -> int:
    counts = StepCounts(STEP[args.mode])
    write_jsonl(args.output, gather_rows(args.mode, args.inputs, counts))
    if counts.input:
        counts.extra["kept_share"] = round(counts.output / counts.input, 4)
    counts.save(args.counts)
    log.info("%s: %d -> %d; %s", args.mode, counts.input, counts.output, dict(counts.removed))
    return 0


def _snippets(args: argparse.Namespace) -> int:
    import itertools

    from selfcodealign.instruct.snippets import random_snippets
    from selfcodealign.jsonl import read_json
    from selfcodealign.seeds.sources import iter_shard_files

    count = sum(1 for _ in read_jsonl(args.count_like))
    files = itertools.chain.from_iterable(iter_shard_files(read_json(p)) for p in args.sources)
    written = write_jsonl(args.output, random_snippets(files, count, args.seed))
    log.info("snippets: %d written (%d seeds to match)", written, count)
    return 0


def _demo_model(args: argparse.Namespace) -> int:
    from selfcodealign.demo_model import build_demo_model
    from selfcodealign.jsonl import write_json

    summary = build_demo_model(args.output, args.settings, args.shots, args.seed)
    write_json(f"{args.output}/training.json", summary)
    log.info("demo model: %s", summary)
    return 0


def add_commands(steps: argparse._SubParsersAction) -> None:
    snippets = steps.add_parser("snippets", help="random 5-30 line snippets (seed ablation)")
    snippets.add_argument("--sources", nargs="+", required=True, help="shard specs of the seeds")
    snippets.add_argument("--count-like", required=True, help="make as many as this JSONL has rows")
    snippets.add_argument("--seed", type=int, default=3407)
    snippets.add_argument("--output", required=True)
    snippets.set_defaults(func=_snippets, section=None)

    demo = steps.add_parser("demo-model", help="train the tiny demo model on CPU")
    add_settings(demo, "demo_model")
    demo.add_argument("--shots", type=json_object, required=True, help='{"s2c": 8, ...}')
    demo.add_argument("--seed", type=int, default=3407)
    demo.add_argument("--output", required=True)
    demo.set_defaults(func=_demo_model)

    run = steps.add_parser("run", help="generate one mode's completions for one shard")
    run.add_argument("--mode", choices=MODES, required=True)
    run.add_argument("--input", required=True, help="JSONL rows of the previous stage")
    run.add_argument("--shard", type=int, default=0)
    run.add_argument("--shards", type=int, default=1)
    run.add_argument("--max-rows", type=int, default=None, help="use only the first N rows")
    run.add_argument("--batch-size", type=int, default=256, help="prompts per backend call")
    run.add_argument("--model", type=json_object, default={}, help="JSON of config key model")
    run.add_argument("--openai", type=json_object, default={}, help="JSON of config key openai")
    run.add_argument("--gpus", type=int, default=0)
    run.add_argument("--seed", type=int, default=3407)
    run.add_argument("--output", required=True)
    run.set_defaults(func=_run)
    add_settings(run, of=lambda a: ("generation", STEP[a.mode]))

    gather = steps.add_parser("gather", help="join shards, keep usable rows, count the rest")
    gather.add_argument("--mode", choices=MODES, required=True)
    gather.add_argument("--inputs", nargs="+", required=True)
    gather.add_argument("--output", required=True)
    gather.add_argument("--counts", required=True)
    gather.set_defaults(func=_gather, section=None)
