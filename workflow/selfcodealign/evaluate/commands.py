"""Evaluation commands: ``evaluate`` scores an EvalPlus samples file (also on its own, for
published samples), ``benchmark-data`` fetches and verifies a benchmark, ``codegen`` writes a
model's greedy samples. A training skipped for too few pairs is recorded, not scored
(``untrained``)."""

from __future__ import annotations

import argparse
import logging
import sys

from selfcodealign.cli_args import add_isolation_arguments
from selfcodealign.evaluate import untrained
from selfcodealign.evaluate.datasets import load_dataset
from selfcodealign.evaluate.scoring import ASSEMBLIES, score_samples
from selfcodealign.jsonl import read_json, write_json
from selfcodealign.sandbox.isolation import UnisolatedError
from selfcodealign.train import skip

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    dataset = load_dataset(
        args.dataset,
        args.dataset_path,
        args.dataset_md5,
        version=args.dataset_version,
        expected_sha256=args.dataset_sha256,
    )
    meta = read_json(args.meta) if args.meta else {}
    marker = untrained.marker_in(meta, args.meta)
    if marker is not None:
        write_json(args.output, untrained.summary(dataset, meta))
        print(
            f"{dataset.name} {dataset.version}: not scored, the model was not trained"
            f" ({skip.describe(marker)})"
        )
        return 0
    try:
        summary = score_samples(
            args.samples,
            dataset,
            args.work_dir or f"{args.output}.evalplus",
            isolation=args.isolation,
            allow_unisolated=args.allow_unisolated,
            parallel=args.parallel or None,
            min_time_limit=args.min_time_limit,
            gt_time_limit_factor=args.gt_time_limit_factor,
            solution=args.solution,
        )
    except UnisolatedError as error:
        print(f"error: {error}, or pass --allow-unisolated", file=sys.stderr)
        return 3
    # The generation provenance (model, prompt convention, settings) travels with the scores.
    summary = {"benchmark": dataset.name, **summary, **meta}
    write_json(args.output, summary)
    scores = summary["pass@1"]
    print(f"{dataset.name} {dataset.version} (md5 {dataset.md5}), isolation {summary['isolation']}")
    print(f"pass@1 base: {scores['base']:.4f}")
    print(f"pass@1 plus: {scores['plus']:.4f}")
    return 0


def add_command(stages: argparse._SubParsersAction) -> None:
    evaluate = stages.add_parser(
        "evaluate", help="score an EvalPlus samples file (task_id + solution or completion)"
    )
    evaluate.add_argument("--samples", required=True, help="EvalPlus samples JSONL")
    evaluate.add_argument("--dataset", required=True, choices=["humaneval", "mbpp"])
    evaluate.add_argument(
        "--dataset-path",
        default=None,
        help="local .jsonl or .jsonl.gz (default: the official release download)",
    )
    evaluate.add_argument(
        "--dataset-md5",
        default=None,
        help="expected md5 of the unzipped dataset; a mismatch is an error (default: no check)",
    )
    evaluate.add_argument("--dataset-sha256", default=None, help="expected sha256, likewise")
    evaluate.add_argument(
        "--dataset-version", default=None, help="default: from the file name, else EvalPlus's"
    )
    evaluate.add_argument("--output", required=True, help="summary JSON with per-task statuses")
    evaluate.add_argument(
        "--meta", default=None, help="JSON of generation provenance merged into the summary"
    )
    evaluate.add_argument(
        "--work-dir", default=None, help="emptied and used by EvalPlus (default: OUTPUT.evalplus)"
    )
    evaluate.add_argument("--parallel", type=int, default=0, help="default: the CPUs available")
    evaluate.add_argument("--min-time-limit", type=float, default=1.0)
    evaluate.add_argument("--gt-time-limit-factor", type=float, default=4.0)
    evaluate.add_argument(
        "--solution",
        choices=ASSEMBLIES,
        default="sanitized",
        help="what EvalPlus scores: the sanitized completion, or the task prompt + the"
        " completion's fenced code (the paper's evaluation)",
    )
    add_isolation_arguments(evaluate, "score even without bubblewrap or a container")
    evaluate.set_defaults(func=run, section=None)
