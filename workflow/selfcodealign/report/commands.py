"""``python -m selfcodealign report``: tables and figures from the pipeline's outputs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import read_json, write_json
from selfcodealign.report import tables

log = logging.getLogger(__name__)

OUTPUTS = {
    "pass_at_1_md": "pass_at_1.md",
    "pass_at_1_csv": "pass_at_1.csv",
    "pass_at_1_png": "pass_at_1.png",
    "funnel_md": "funnel.md",
    "funnel_csv": "funnel.csv",
    "funnel_png": "funnel.png",
    "loss_png": "loss.png",
    "summary": "summary.json",
}


def _read(path: str) -> Any:
    try:
        return read_json(path)
    except json.JSONDecodeError as error:
        raise tables.ReportInputError(f"{path}: not valid JSON: {error}") from error


def load_evals(paths: list[str]) -> list[dict[str, Any]]:
    return [tables.check_eval(_read(path), path) for path in paths]


def load_funnels(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The stages' funnels in pipeline order; a stage without a file is left out."""
    funnels = {}
    if args.seed_funnel:
        funnels["seeds"] = tables.check_funnel(_read(args.seed_funnel), args.seed_funnel)
    if args.generation_counts:
        # One counts file per generation step (concepts, instructions, responses), in order.
        steps = {"steps": [_read(path) for path in args.generation_counts]}
        funnels["generation"] = tables.check_funnel(steps, " ".join(args.generation_counts))
    if args.dataset_funnel:
        funnels["dataset"] = tables.check_funnel(_read(args.dataset_funnel), args.dataset_funnel)
    return funnels


def build_report(args: argparse.Namespace) -> str:
    """Write every output under ``args.output_dir``; return the pass@1 Markdown."""
    # matplotlib only where the report runs: every other job's environment lacks it.
    from selfcodealign.report import plots

    evals = load_evals(args.evals)
    funnels = load_funnels(args)
    loss = plots.read_loss(args.loss) if args.loss else []
    base_model = args.base_model or tables.default_base_model(evals)

    out = Path(args.output_dir)
    files = {key: out / name for key, name in OUTPUTS.items()}
    pass_rows = tables.pass_at_1_rows(evals, base_model)
    funnel_rows = [row for stage, f in funnels.items() for row in tables.funnel_rows(stage, f)]
    overall = tables.funnel_overall(funnels)

    text = tables.write_pass_at_1(files["pass_at_1_md"], files["pass_at_1_csv"], pass_rows)
    tables.write_funnel(files["funnel_md"], files["funnel_csv"], funnel_rows, overall)
    plots.pass_at_1_plot(pass_rows, files["pass_at_1_png"])
    plots.funnel_plot(funnel_rows, files["funnel_png"])
    plots.loss_plot(loss, files["loss_png"])
    write_json(
        files["summary"],
        {
            "base_model": base_model,
            "inputs": {
                "evals": list(args.evals),
                "seed_funnel": args.seed_funnel,
                "generation_counts": list(args.generation_counts),
                "dataset_funnel": args.dataset_funnel,
                "loss": args.loss,
            },
            "files": dict(OUTPUTS),
            "pass_at_1": pass_rows,
            "funnel": funnel_rows,
            "funnel_overall": overall,
            "loss_points": len(loss),
        },
    )
    return text


def run(args: argparse.Namespace) -> int:
    try:
        text = build_report(args)
    except (tables.ReportInputError, OSError, UnicodeDecodeError) as error:
        # One line: the Snakemake log shows the reason, not a traceback.
        message = str(error) if isinstance(error, tables.ReportInputError) else _os_message(error)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


def _os_message(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def add_command(stages: argparse._SubParsersAction) -> None:
    report = stages.add_parser(
        "report", help="pass@1 vs the paper, the data funnel and the loss curve"
    )
    report.add_argument(
        "--evals", nargs="*", default=[], metavar="FILE", help="evaluation summary JSON files"
    )
    report.add_argument("--seed-funnel", default=None, metavar="FILE", help="seeds funnel.json")
    report.add_argument(
        "--generation-counts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="counts JSON of each generation step, in pipeline order",
    )
    report.add_argument(
        "--dataset-funnel", default=None, metavar="FILE", help="dataset (selection) funnel.json"
    )
    report.add_argument("--loss", default=None, metavar="FILE", help="training loss.csv")
    report.add_argument(
        "--base-model",
        default=None,
        metavar="NAME",
        help="base model (config model.name) for the paper's numbers"
        " (default: the model name of a base-model evaluation)",
    )
    report.add_argument("--output-dir", required=True, metavar="DIR")
    report.set_defaults(func=run, section=None)
