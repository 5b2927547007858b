"""``python -m selfcodealign sandbox``: run a JSONL file of programs, resumably."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter

from selfcodealign.cli_args import add_isolation_arguments
from selfcodealign.jsonl import read_jsonl, write_json
from selfcodealign.progress import progress_bar
from selfcodealign.resumable import ResumableOutput, file_digest, fingerprint
from selfcodealign.sandbox.isolation import UnisolatedError
from selfcodealign.sandbox.pool import Limits, SandboxPool

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    limits = Limits(timeout_s=args.timeout_s, memory_mb=args.memory_mb)
    workers = args.workers or len(os.sched_getaffinity(0))
    try:
        pool = SandboxPool(workers, limits, args.isolation, args.allow_unisolated)
    except UnisolatedError as error:
        print(f"error: {error}, or pass --allow-unisolated (process limits only)", file=sys.stderr)
        return 3
    with pool:
        sink = ResumableOutput(
            args.output,
            fingerprint(
                limits=limits.__dict__, isolation=pool.isolation, input=file_digest(args.input)
            ),
            key="index",
        )
        done = len(sink.done)
        # Read through once first: a bad row stops the job before any program runs.
        total = sum(1 for _ in read_jsonl(args.input, required=("id", "code")))
        log.info("sandbox: %d programs, %d done before, isolation %s", total, done, pool.isolation)
        programs = (
            (row["id"], row["code"])
            for index, row in enumerate(read_jsonl(args.input))
            if index >= done
        )
        statuses: Counter[str] = Counter()
        started = time.monotonic()
        bar = progress_bar(total=total, initial=done, unit="prog")
        for index, result in enumerate(pool.run(programs), start=done):
            sink.write({"index": index, **result})
            statuses[result["status"]] += 1
            bar.update()
            if index % 64 == 0:
                sink.flush()
        sink.flush()
        bar.close()
        elapsed = time.monotonic() - started
        rows = sink.finish(drop_key=True)
    meta = {
        "isolation": pool.isolation,
        "limits": limits.__dict__,
        "workers": workers,
        "programs": rows,
        "resumed": done,
        "statuses_this_run": dict(statuses),
        "seconds_this_run": round(elapsed, 2),
        "programs_per_second": round((rows - done) / elapsed, 2) if elapsed > 0 else None,
    }
    write_json(args.meta or f"{args.output}.meta.json", meta)
    log.info("sandbox: %s", meta)
    return 0


def add_command(stages: argparse._SubParsersAction) -> None:
    sandbox = stages.add_parser(
        "sandbox", help="run programs (JSONL rows with id and code) in the sandbox"
    )
    sandbox.add_argument("--input", required=True, help="JSONL with id and code per row")
    sandbox.add_argument("--output", required=True, help="JSONL results, in input order")
    sandbox.add_argument("--meta", default=None, help="run metadata (default: OUTPUT.meta.json)")
    sandbox.add_argument("--timeout-s", type=float, default=10.0)
    sandbox.add_argument("--memory-mb", type=int, default=4096)
    sandbox.add_argument("--workers", type=int, default=0, help="default: the CPUs this job has")
    add_isolation_arguments(
        sandbox, "run even without bubblewrap or a container (process limits only)"
    )
    sandbox.set_defaults(func=run, section=None)
