"""``benchmark-data`` (fetch and verify a benchmark) and ``codegen`` (a model's greedy samples)."""

from __future__ import annotations

import argparse
import logging

from selfcodealign.cli_args import add_settings, json_object
from selfcodealign.evaluate.datasets import load_dataset
from selfcodealign.jsonl import atomic_writer, write_json

log = logging.getLogger(__name__)


def _dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, choices=["humaneval", "mbpp"])
    parser.add_argument(
        "--pin",
        type=json_object,
        required=True,
        help="JSON of evaluation.datasets.<benchmark>: version, md5 and/or sha256, path, mini",
    )


def _load(args: argparse.Namespace, path: str | None = None):
    pin = args.pin
    return load_dataset(
        args.benchmark,
        path if path is not None else pin.get("path"),
        pin.get("md5"),
        version=pin["version"],
        mini=pin.get("mini", False),
        expected_sha256=pin.get("sha256"),
    )


def _fetch(args: argparse.Namespace) -> int:
    dataset = _load(args)
    with atomic_writer(args.output, binary=True) as handle:
        handle.write(dataset.content)
    print(f"{dataset.name} {dataset.version}: {len(dataset.tasks)} tasks, md5 {dataset.md5}")
    return 0


def _codegen(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from selfcodealign.evaluate import untrained

    # A training skipped for too few pairs has no weights: record that instead of generating.
    marker = untrained.marker_of(args)
    if marker is not None:
        return untrained.record(args, marker)

    from selfcodealign.config import validate_section
    from selfcodealign.evaluate.codegen import generate_samples
    from selfcodealign.generation import load_backend

    dataset = _load(args, path=args.dataset)
    settings = args.settings
    model = validate_section(args.model, "model")
    model = {**model, "backend": settings["backend"]}
    tokenizer = AutoTokenizer.from_pretrained(model["name"], revision=model.get("revision"))
    backend = load_backend(model, gpus=settings["gpus"])
    try:
        run = generate_samples(
            dataset,
            backend,
            tokenizer,
            convention=args.prompt,
            max_tokens=settings["max_tokens"],
            batch_size=settings["batch_size"],
            output=args.output,
            fingerprint_parts={"model": model},
            # The base model in completion mode even if it ships a chat template (as EvalPlus's
            # --force-base-prompt): the paper's base numbers are completions.
            force_completion=args.model_kind == "base" and settings["force_base_prompt"],
        )
    finally:
        backend.close()
    write_json(
        args.meta,
        {
            "model": args.model_kind,
            "model_name": args.model_name or model["name"],
            "benchmark": args.benchmark,
            "prompt": args.prompt,
            "prompt_style": run.pop("prompt_style"),
            "generation": {
                **settings,
                "dtype": model["dtype"],
                "revision": model.get("revision"),
                "temperature": 0.0,
                "n": 1,
                "stop": run.pop("stop"),
            },
            "codegen": run,
        },
    )
    log.info("%s %s %s: %s", args.model_kind, args.benchmark, args.prompt, run)
    return 0


def add_commands(stages: argparse._SubParsersAction) -> None:
    fetch = stages.add_parser(
        "benchmark-data", help="fetch HumanEval+ / MBPP+ and check its pinned hash"
    )
    _dataset_arguments(fetch)
    fetch.add_argument("--output", required=True, help="the verified, unzipped JSONL")
    fetch.set_defaults(func=_fetch, section=None)

    codegen = stages.add_parser("codegen", help="greedy samples of a model on a benchmark")
    add_settings(codegen, "evaluation", "generation")
    _dataset_arguments(codegen)
    codegen.add_argument("--dataset", required=True, help="the verified JSONL (benchmark-data)")
    codegen.add_argument("--model", type=json_object, required=True, help="model section JSON")
    codegen.add_argument("--model-kind", required=True, choices=["base", "finetuned"])
    codegen.add_argument(
        "--model-name", default=None, help="name shown in the report (default: model.name)"
    )
    codegen.add_argument("--prompt", required=True, choices=["paper", "evalplus"])
    codegen.add_argument("--output", required=True, help="EvalPlus samples JSONL")
    codegen.add_argument("--meta", required=True, help="JSON of the generation's provenance")
    codegen.set_defaults(func=_codegen)
