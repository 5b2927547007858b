"""Command line: ``python -m selfcodealign <stage> <step> ...``; the Snakemake rules call it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from selfcodealign.cli_args import resolve_section
from selfcodealign.config import ConfigError, validate_section
from selfcodealign.evaluate.datasets import DatasetHashMismatch
from selfcodealign.jsonl import BadInput

log = logging.getLogger("selfcodealign")


def build_parser() -> argparse.ArgumentParser:
    from selfcodealign.instruct import commands as instruct
    from selfcodealign.seeds import commands as seeds

    parser = argparse.ArgumentParser(prog="selfcodealign", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    stages = parser.add_subparsers(dest="stage", required=True)

    check = stages.add_parser(
        "check-config", help="validate a config file: the schema and the references between entries"
    )
    check.add_argument("configfile")
    check.set_defaults(func=_check_config, section=None)

    seed_stage = stages.add_parser("seeds", help="seed gathering steps")
    steps = seed_stage.add_subparsers(dest="step", required=True)
    seeds.add_commands(steps)

    from selfcodealign.sandbox import commands as sandbox

    sandbox.add_command(stages)

    from selfcodealign.evaluate import commands as evaluate

    evaluate.add_command(stages)

    from selfcodealign.evaluate import codegen_commands

    codegen_commands.add_commands(stages)

    from selfcodealign.report import commands as report

    report.add_command(stages)

    from selfcodealign import gguf_import

    gguf_import.add_command(stages)

    from selfcodealign import stage_model

    stage_model.add_command(stages)

    instruct_stage = stages.add_parser("instruct", help="Self-OSS-Instruct generation steps")
    steps = instruct_stage.add_subparsers(dest="step", required=True)
    instruct.add_commands(steps)

    from selfcodealign.select import commands as select

    select_stage = stages.add_parser("select", help="execution and selection steps")
    steps = select_stage.add_subparsers(dest="step", required=True)
    select.add_commands(steps)

    from selfcodealign.train import commands as train

    train_stage = stages.add_parser("train", help="instruction tuning (full or LoRA)")
    train.add_commands(train_stage.add_subparsers(dest="step", required=True))
    return parser


def _check_config(args: argparse.Namespace) -> int:
    from selfcodealign.config import load_config_file
    from selfcodealign.experiments import Experiments

    # The schema, then the references between entries, as the workflow checks them.
    Experiments(load_config_file(args.configfile))
    print(f"{args.configfile}: valid")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        section = resolve_section(args)
        if section:
            args.settings = validate_section(args.settings, *section)
        return func(args) or 0
    except (ConfigError, DatasetHashMismatch, BadInput) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
