"""The instruction-tuning command line: ``train finetune``."""

from __future__ import annotations

import argparse
import logging
import sys

from selfcodealign.cli_args import add_settings

log = logging.getLogger(__name__)


def _finetune(args: argparse.Namespace) -> int:
    from selfcodealign.config import ConfigError
    from selfcodealign.train.launch import relaunch_if_needed

    if args.settings["learning_rate"] is None:
        # The workflow fills it in per training: 1e-5 on the student's own data, 2e-5 else.
        raise ConfigError(
            "finetune.learning_rate: null is chosen by the workflow per training;"
            " give a number (the paper: 1e-5 for self-generated data, 2e-5 otherwise)"
        )

    if args.launch:
        # The same command minus --launch, once per GPU under accelerate (returns on 0-1 GPU).
        relaunch_if_needed(args.settings, [a for a in sys.argv[1:] if a != "--launch"])
    from selfcodealign.train.finetune import finetune

    finetune(
        args.settings,
        model_path=args.model,
        data_path=args.data,
        output=args.output,
        checkpoints=args.checkpoints,
        seed=args.seed,
        revision=args.revision,
    )
    return 0


def add_commands(steps: argparse._SubParsersAction) -> None:
    finetune = steps.add_parser("finetune", help="instruction-tune the base model (full or LoRA)")
    add_settings(finetune, "finetune")
    finetune.add_argument("--model", required=True, help="base model directory or Hub id")
    finetune.add_argument("--revision", default=None, help="the Hub id's pinned revision")
    finetune.add_argument("--data", required=True, help="sft.jsonl (instruction, response)")
    finetune.add_argument("--output", required=True, help="directory of the fine-tuned model")
    finetune.add_argument(
        "--checkpoints",
        default=None,
        help="checkpoint directory a rerun resumes from (default: OUTPUT/checkpoints)",
    )
    finetune.add_argument("--seed", type=int, default=3407, help="used when finetune.seed is null")
    finetune.add_argument(
        "--launch",
        action="store_true",
        help="with finetune.gpus > 1, re-run under accelerate launch on the job's GPUs",
    )
    finetune.set_defaults(func=_finetune)
