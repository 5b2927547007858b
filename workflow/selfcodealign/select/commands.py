"""The execution and selection steps' command line."""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import os
import sys

from selfcodealign.cli_args import add_settings, json_object
from selfcodealign.config import ConfigError
from selfcodealign.funnel import build_funnel
from selfcodealign.jsonl import read_json, read_jsonl, write_json, write_jsonl
from selfcodealign.progress import progress_bar

log = logging.getLogger(__name__)


# What execution reads of each response sample.
SAMPLE_FIELDS = ("id", "instruction_id", "response", "tests")


def _execute(args: argparse.Namespace) -> int:
    from selfcodealign.instruct.runner import shard_rows
    from selfcodealign.resumable import ResumableOutput, file_digest, fingerprint
    from selfcodealign.sandbox import Limits, SandboxPool
    from selfcodealign.sandbox.isolation import UnisolatedError
    from selfcodealign.select.execute import execution_rows

    settings = args.settings
    limits = Limits(timeout_s=settings["timeout_s"], memory_mb=settings["memory_mb"])
    workers = args.workers or len(os.sched_getaffinity(0))
    try:
        pool = SandboxPool(workers, limits, allow_unisolated=settings["allow_unisolated"])
    except UnisolatedError as error:
        print(f"error: {error}, or set execution.allow_unisolated: true", file=sys.stderr)
        return 3
    with pool:
        sink = ResumableOutput(
            args.output,
            fingerprint(
                limits=limits.__dict__,
                isolation=pool.isolation,
                cut_input_main=settings["cut_input_main"],
                input=file_digest(args.input),
                shard=[args.shard, args.shards],
            ),
        )
        done = set(sink.done)
        samples = (
            (index, row)
            for index, row in shard_rows(
                read_jsonl(args.input, required=SAMPLE_FIELDS), args.shard, args.shards, None
            )
            if index not in done
        )
        bar = progress_bar(initial=len(done), unit="prog")
        rows_out = execution_rows(samples, pool, settings["cut_input_main"])
        for count, row in enumerate(rows_out, 1):
            sink.write({**row, "isolation": pool.isolation})
            bar.update()
            if count % 64 == 0:
                sink.flush()
        bar.close()
        rows = sink.finish()
    log.info("execute shard %d/%d: %d rows (%d resumed), isolation %s",
             args.shard, args.shards, rows, len(done), pool.isolation)  # fmt: skip
    return 0


def _gather(args: argparse.Namespace) -> int:
    merged = heapq.merge(*(read_jsonl(p) for p in args.inputs), key=lambda r: r["row"])
    count = write_jsonl(args.output, ({k: v for k, v in r.items() if k != "row"} for r in merged))
    log.info("execution: %d results", count)
    return 0


def _joined(responses: str, executions: str):
    for response, execution in itertools.zip_longest(read_jsonl(responses), read_jsonl(executions)):
        if response is None or execution is None or response["id"] != execution["id"]:
            raise ValueError(f"{responses} and {executions} do not hold the same samples in order")
        yield {**response, "status": execution["status"], "passed": execution["passed"]}


def _target_size(args: argparse.Namespace) -> int | None:
    """The row count of ``--size-like`` for mode random_subset; ``ConfigError`` on misuse."""
    mode = args.settings["mode"]
    if mode != "random_subset":
        if args.size_like is not None:
            raise ConfigError(
                f"--size-like is only for selection.mode random_subset (the mode is {mode})"
            )
        return None
    if args.size_like is None:
        raise ConfigError(
            "selection.mode random_subset needs --size-like FILE "
            "(a JSONL whose row count is the target size)"
        )
    try:
        return sum(1 for _ in read_jsonl(args.size_like))
    except (OSError, ValueError) as error:
        raise ConfigError(f"--size-like: {error}") from None


def _select(args: argparse.Namespace) -> int:
    from selfcodealign.select.selection import pass_fractions, select

    target_size = _target_size(args)
    stats = pass_fractions(read_jsonl(args.executions))
    texts = read_json(args.benchmarks) if args.benchmarks else {}
    rows, steps = select(
        _joined(args.responses, args.executions),
        args.settings,
        args.seed,
        itertools.chain.from_iterable(texts.values()),
        target_size=target_size,
    )

    def records():
        for row in rows:
            instruction = stats[row["instruction_id"]]
            yield {
                "id": row["id"],
                "instruction": row["instruction"],
                "response": row["response"],
                "seed_id": row["instruction_id"],
                "concepts": row.get("concepts"),
                "category": row.get("category"),
                "difficulty": row.get("difficulty"),
                "execution_status": row["status"],
                "pass_fraction": instruction["pass_fraction"],
                "augmented": row["augmented"],
                "tests": row["tests"],
            }

    written = write_jsonl(args.output, records())
    funnel = build_funnel(steps)
    funnel["mode"] = args.settings["mode"]
    if target_size is not None:
        funnel["target_size"] = target_size
    if funnel["final"] != written:
        raise RuntimeError(f"funnel ends at {funnel['final']} but {written} rows were written")
    write_json(args.funnel, funnel)
    write_json(args.stats, stats)
    log.info("selection (%s): %d pairs written", args.settings["mode"], written)
    return 0


def _external(args: argparse.Namespace) -> int:
    from selfcodealign.select.external import run_external

    return run_external(args.settings, args.output, args.funnel)


def add_commands(steps: argparse._SubParsersAction) -> None:
    execute = steps.add_parser("execute", help="run one shard of samples in the sandbox")
    add_settings(execute, "execution")
    execute.add_argument("--input", required=True, help="responses.jsonl")
    execute.add_argument("--shard", type=int, default=0)
    execute.add_argument("--shards", type=int, default=1)
    execute.add_argument("--workers", type=int, default=0, help="default: the job's CPUs")
    execute.add_argument("--output", required=True)
    execute.set_defaults(func=_execute)

    gather = steps.add_parser("gather", help="join execution shards in sample order")
    gather.add_argument("--inputs", nargs="+", required=True)
    gather.add_argument("--output", required=True)
    gather.set_defaults(func=_gather, section=None)

    choose = steps.add_parser("select", help="select training pairs from executed samples")
    add_settings(choose, "selection")
    choose.add_argument("--responses", required=True)
    choose.add_argument("--executions", required=True)
    choose.add_argument("--benchmarks", default=None, help="benchmark texts (decontamination)")
    choose.add_argument("--seed", type=int, default=3407)
    choose.add_argument(
        "--size-like",
        default=None,
        metavar="FILE",
        help="mode random_subset: a JSONL whose row count is the target size",
    )
    choose.add_argument("--output", required=True)
    choose.add_argument("--funnel", required=True)
    choose.add_argument("--stats", required=True, help="per-instruction execution statistics")
    choose.set_defaults(func=_select)

    external = steps.add_parser(
        "external", help="an existing instruction dataset (file or Hub) as training pairs"
    )
    external.add_argument(
        "--settings",
        type=json_object,
        default={},
        help="JSON object: path or hub, revision, split, instruction_field, response_field, "
        "max_rows",
    )
    external.add_argument("--output", required=True, help="sft.jsonl")
    external.add_argument("--funnel", required=True)
    external.set_defaults(func=_external, section=None)
