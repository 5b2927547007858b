"""The seed stage's command-line steps: each reads files, writes files and a counts file."""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path

from selfcodealign.cli_args import add_settings, json_object
from selfcodealign.funnel import StepCounts, build_funnel, merge_counts
from selfcodealign.jsonl import read_json, read_jsonl, write_json, write_jsonl
from selfcodealign.progress import progress, progress_bar

log = logging.getLogger(__name__)


def _plan(args: argparse.Namespace) -> int:
    from selfcodealign.seeds.sources import plan_shards

    # A staged Hub dataset's files go beside the shard specs (the plan's output directory).
    specs = plan_shards(args.settings, args.shards, Path(args.outdir) / "files")
    for spec in specs:
        write_json(os.path.join(args.outdir, f"shard-{spec['shard']}.json"), spec)
    total = sum(len(s.get("files", [])) for s in specs)
    unit = "parquet files staged" if specs and specs[0]["kind"] == "parquet" else "files listed"
    log.info("planned %d shards (%s %s)", len(specs), total or "streamed", unit)
    return 0


def _extract(args: argparse.Namespace) -> int:
    from selfcodealign.seeds.extract import extract_records
    from selfcodealign.seeds.sources import iter_shard_files, shard_size

    spec = read_json(args.shard)
    counts = StepCounts("extract")
    files = progress(iter_shard_files(spec), "extract", total=shard_size(spec), unit="file")
    write_jsonl(
        args.output,
        extract_records(
            files,
            counts,
            require_triple_quotes=args.settings["require_triple_quoted_docstring"],
            max_file_bytes=args.settings["max_file_bytes"],
        ),
    )
    counts.save(args.counts)
    log.info(
        "extract: %d files -> %d functions; %s", counts.input, counts.output, dict(counts.removed)
    )
    return 0


def _benchmark_texts(args: argparse.Namespace) -> int:
    from selfcodealign.seeds.decontamination import load_benchmark_texts

    texts = load_benchmark_texts(args.settings)
    write_json(args.output, texts)
    log.info("benchmark texts: %s", {name: len(t) for name, t in texts.items()})
    return 0


def _filter(args: argparse.Namespace) -> int:
    from selfcodealign.seeds.filters import StaticFilter

    texts = read_json(args.benchmarks)
    static = StaticFilter(args.settings, itertools.chain.from_iterable(texts.values()))
    counts = StepCounts("static_filters", extra={"benchmarks": sorted(texts)})
    records = progress(read_jsonl(args.input), "filter", unit="fn")
    write_jsonl(args.output, static.apply(records, counts))
    counts.save(args.counts)
    log.info("filters: %d -> %d; %s", counts.input, counts.output, dict(counts.removed))
    return 0


def _typecheck(args: argparse.Namespace) -> int:
    from selfcodealign.seeds.typecheck import typecheck_records

    counts = StepCounts("typecheck")
    records = progress(read_jsonl(args.input), "typecheck", unit="fn")
    write_jsonl(args.output, typecheck_records(records, args.settings, counts))
    counts.save(args.counts)
    log.info("typecheck: %d -> %d; %s", counts.input, counts.output, dict(counts.removed))
    return 0


def _dedup(args: argparse.Namespace) -> int:
    from selfcodealign.seeds.dedup import dedup_seeds

    counts = StepCounts("dedup")
    records = itertools.chain.from_iterable(read_jsonl(path) for path in args.inputs)
    kept = dedup_seeds(
        progress(records, "dedup", unit="fn"), args.settings, args.seed, counts, args.workers
    )
    write_jsonl(args.output, kept)
    counts.save(args.counts)
    log.info("dedup: %d -> %d; %s", counts.input, counts.output, dict(counts.removed))
    return 0


def _judge(args: argparse.Namespace) -> int:
    """One shard of the judge: every seed's verdict, resumably (a killed job continues)."""
    from selfcodealign.config import validate_section
    from selfcodealign.experiments import RUNTIME_KEYS, without
    from selfcodealign.generation import load_backend
    from selfcodealign.instruct.runner import shard_rows
    from selfcodealign.resumable import ResumableOutput, file_digest, fingerprint
    from selfcodealign.seeds.judge import judge_verdicts

    model = validate_section(args.model, "model")
    sink = ResumableOutput(
        args.output,
        fingerprint(
            settings=without(args.settings, RUNTIME_KEYS["judge"]),
            model=model,
            seed=args.seed,
            input=file_digest(args.input),
            shard=[args.shard, args.shards],
        ),
    )
    done = set(sink.done)
    rows = (
        (index, record)
        for index, record in shard_rows(read_jsonl(args.input), args.shard, args.shards, None)
        if index not in done
    )
    backend = load_backend(model, gpus=args.gpus)
    with progress_bar(initial=len(done), desc="judge", unit="fn") as bar:
        for index, record, verdict in judge_verdicts(rows, backend, args.settings, args.seed):
            sink.write({**record, "row": index, "judge_verdict": verdict})
            bar.update()
            if bar.n % args.settings["batch_size"] == 0:
                sink.flush()  # a batch's verdicts survive a kill
    written = sink.finish()
    log.info("judge shard %d/%d: %d seeds (%d resumed)", args.shard, args.shards, written,
             len(done))  # fmt: skip
    return 0


def _judge_gather(args: argparse.Namespace) -> int:
    """The judge's shards joined in input order: the kept seeds and the step's counts."""
    from selfcodealign.seeds.judge import count_verdict

    counts = StepCounts("docstring_judge")
    merged = heapq.merge(*(read_jsonl(p) for p in args.inputs), key=lambda r: r["row"])
    kept = (
        {k: v for k, v in row.items() if k not in ("row", "judge_verdict")}
        for row in merged
        if count_verdict(row["judge_verdict"], counts)
    )
    write_jsonl(args.output, kept)
    counts.save(args.counts)
    log.info("judge: %d -> %d; %s", counts.input, counts.output, dict(counts.removed))
    return 0


def _subsampled(path: str, size: int, seed: int, counts: StepCounts) -> Iterator[dict]:
    """A seeded random ``size`` of the seeds in ``path``, in file order (all when fewer)."""
    total = sum(1 for _ in read_jsonl(path))
    keep = set(random.Random(f"{seed}:subsample").sample(range(total), min(size, total)))
    for index, record in enumerate(read_jsonl(path)):
        if index in keep:
            counts.keep()
            yield record
        else:
            counts.drop("subsample")


def _gather(args: argparse.Namespace) -> int:
    by_step: dict[str, list[StepCounts]] = {}
    for path in args.counts:
        counts = StepCounts.load(path)
        by_step.setdefault(counts.step, []).append(counts)
    steps = [merge_counts(parts) for parts in by_step.values()]
    funnel = build_funnel(steps)
    if args.subsample is None:
        written = write_jsonl(args.output, read_jsonl(args.input))
    else:
        sample = StepCounts("subsample", extra={"size": args.subsample, "seed": args.seed})
        written = write_jsonl(
            args.output, _subsampled(args.input, args.subsample, args.seed, sample)
        )
        if sample.input != funnel["final"]:
            raise RuntimeError(
                f"{args.input} has {sample.input} seeds but the funnel ends at {funnel['final']}"
            )
        funnel = build_funnel([*steps, sample])
    if written != funnel["final"]:
        raise RuntimeError(
            f"{args.input} has {written} seeds but the funnel ends at {funnel['final']}"
        )
    write_json(args.funnel, funnel)
    log.info("seeds: %d written to %s", written, args.output)
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_commands(steps: argparse._SubParsersAction) -> None:
    """Register the seed steps on the ``seeds`` sub-command."""
    plan = steps.add_parser("plan", help="split the configured source into shard specs")
    add_settings(plan, "seeds", "source")
    plan.add_argument("--shards", type=int, required=True)
    plan.add_argument("--outdir", required=True)
    plan.set_defaults(func=_plan)

    extract = steps.add_parser("extract", help="extract documented top-level functions")
    add_settings(extract, "seeds", "extract")
    extract.add_argument("--shard", required=True, help="a shard spec written by 'plan'")
    extract.add_argument("--output", required=True)
    extract.add_argument("--counts", required=True)
    extract.set_defaults(func=_extract)

    bench = steps.add_parser("benchmark-texts", help="load benchmark texts for decontamination")
    add_settings(bench, "seeds", "decontamination")
    bench.add_argument("--output", required=True)
    bench.set_defaults(func=_benchmark_texts)

    filt = steps.add_parser("filter", help="apply the static filters")
    add_settings(filt, "seeds", "filters")
    filt.add_argument("--input", required=True)
    filt.add_argument("--benchmarks", required=True, help="JSON written by 'benchmark-texts'")
    filt.add_argument("--output", required=True)
    filt.add_argument("--counts", required=True)
    filt.set_defaults(func=_filter)

    typecheck = steps.add_parser("typecheck", help="keep functions Pyright finds no error in")
    add_settings(typecheck, "seeds", "typecheck")
    typecheck.add_argument("--input", required=True)
    typecheck.add_argument("--output", required=True)
    typecheck.add_argument("--counts", required=True)
    typecheck.set_defaults(func=_typecheck)

    dedup = steps.add_parser("dedup", help="exact and MinHash near-duplicate removal")
    add_settings(dedup, "seeds", "dedup")
    dedup.add_argument("--inputs", nargs="+", required=True)
    dedup.add_argument("--seed", type=int, default=3407)
    dedup.add_argument("--workers", type=int, default=1)
    dedup.add_argument("--output", required=True)
    dedup.add_argument("--counts", required=True)
    dedup.set_defaults(func=_dedup)

    judge = steps.add_parser("judge", help="docstring-quality judge with the base model")
    add_settings(judge, "seeds", "judge")
    judge.add_argument("--model", type=json_object, default={}, help="JSON of config key model")
    judge.add_argument("--gpus", type=int, default=0)
    judge.add_argument("--seed", type=int, default=3407)
    judge.add_argument("--input", required=True)
    judge.add_argument("--shard", type=int, default=0)
    judge.add_argument("--shards", type=int, default=1)
    judge.add_argument("--output", required=True, help="every seed's verdict (resumable)")
    judge.set_defaults(func=_judge)

    judge_gather = steps.add_parser("judge-gather", help="join the judge's shards")
    judge_gather.add_argument("--inputs", nargs="+", required=True)
    judge_gather.add_argument("--output", required=True, help="the seeds the judge kept")
    judge_gather.add_argument("--counts", required=True)
    judge_gather.set_defaults(func=_judge_gather)

    gather = steps.add_parser("gather", help="write seeds.jsonl and the stage's funnel")
    gather.add_argument("--input", required=True)
    gather.add_argument("--counts", nargs="+", required=True, help="counts files in step order")
    gather.add_argument("--output", required=True)
    gather.add_argument("--funnel", required=True)
    gather.add_argument(
        "--subsample",
        type=_positive_int,
        default=None,
        metavar="N",
        help="keep a seeded random N of the seeds, in their order (the ablations' 37k seeds)",
    )
    gather.add_argument("--seed", type=int, default=3407, help="seed of --subsample")
    gather.set_defaults(func=_gather, section=None)
