"""``python -m selfcodealign report {dataset,training,table}``: tables and figures from the
pipeline's outputs.

- ``dataset``: the data funnel of one dataset (funnel.md, funnel.csv, funnel.png);
- ``training``: the loss curve of one training (loss.png; for a training skipped for too few
  pairs, a figure that says so);
- ``table``: one of the paper's tables from a spec (table.md, table.csv, table.png,
  summary.json, and heatmap.png for Table 8).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import read_json, write_json
from selfcodealign.report import paper_tables, tables
from selfcodealign.train import skip

FUNNEL_OUTPUTS = {"md": "funnel.md", "csv": "funnel.csv", "png": "funnel.png"}
LOSS_OUTPUT = "loss.png"
TABLE_OUTPUTS = {
    "md": "table.md",
    "csv": "table.csv",
    "png": "table.png",
    "summary": "summary.json",
}
HEATMAP_OUTPUT = "heatmap.png"


def _read(path: str) -> Any:
    try:
        return read_json(path)
    except json.JSONDecodeError as error:
        raise tables.ReportInputError(f"{path}: not valid JSON: {error}") from error


def load_funnels(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The stages' funnels in pipeline order; a stage without a file is left out."""
    funnels = {}
    if args.seed_funnel:
        funnels["seeds"] = tables.check_funnel(_read(args.seed_funnel), args.seed_funnel)
    if args.generation_counts:
        # One counts file per generation step (concepts, instructions, responses), in order.
        steps = {"steps": [_read(path) for path in args.generation_counts]}
        funnels["generation"] = tables.check_funnel(steps, " ".join(args.generation_counts))
    funnels["dataset"] = tables.check_funnel(_read(args.dataset_funnel), args.dataset_funnel)
    return funnels


def dataset_report(args: argparse.Namespace) -> str:
    """funnel.md, funnel.csv and funnel.png under ``args.output_dir``; return the Markdown."""
    # matplotlib only where the report runs: every other job's environment lacks it.
    from selfcodealign.report import plots

    funnels = load_funnels(args)
    rows = [row for stage, f in funnels.items() for row in tables.funnel_rows(stage, f)]
    overall = tables.funnel_overall(funnels)
    out = Path(args.output_dir)
    text = tables.write_funnel(
        out / FUNNEL_OUTPUTS["md"], out / FUNNEL_OUTPUTS["csv"], rows, overall
    )
    plots.funnel_plot(rows, out / FUNNEL_OUTPUTS["png"])
    return text


def training_report(args: argparse.Namespace) -> str:
    """loss.png under ``args.output_dir``; it says so when no training ran (the marker of
    ``selfcodealign.train.skip`` beside the loss file, in the model directory)."""
    from selfcodealign.report import plots

    try:
        marker = skip.read_marker(Path(args.loss).parent)
    except ValueError as error:
        raise tables.ReportInputError(str(error)) from error
    if marker is not None:
        text = f"no training ran: {skip.describe(marker)}"
        plots.message_plot(text, Path(args.output_dir) / LOSS_OUTPUT, "Training loss")
        return f"{text}\n"
    points = plots.read_loss(args.loss)
    plots.loss_plot(points, Path(args.output_dir) / LOSS_OUTPUT)
    return f"{len(points)} loss points plotted\n"


def table_report(args: argparse.Namespace) -> str:
    """table.md, table.csv, table.png, summary.json (and heatmap.png for Table 8)."""
    # Every input is read and checked before anything is written.
    spec = paper_tables.parse_spec(args.spec)
    result = paper_tables.build_table(spec)

    from selfcodealign.report import plots

    out = Path(args.output_dir)
    files = dict(TABLE_OUTPUTS)
    title = spec["title"] or paper_tables.TITLES[spec["shape"]]
    text = paper_tables.write_table(spec, result, out / files["md"], out / files["csv"])
    legend = "data from" if spec["shape"] == "table8" else None
    plots.comparison_plot(paper_tables.bar_groups(spec, result), out / files["png"], title, legend)
    if spec["shape"] == "table8":
        files["heatmap"] = HEATMAP_OUTPUT
        plots.heatmap_plot(paper_tables.heatmap_data(result), out / HEATMAP_OUTPUT, title)
    write_json(out / files["summary"], {"spec": spec, "files": files, **result})
    return text


def _runner(build: Callable[[argparse.Namespace], str]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            text = build(args)
        except (tables.ReportInputError, OSError, UnicodeDecodeError) as error:
            # One line: the Snakemake log shows the reason, not a traceback.
            message = (
                str(error) if isinstance(error, tables.ReportInputError) else _os_message(error)
            )
            print(f"error: {' '.join(message.split())}", file=sys.stderr)
            return 2
        print(text, end="")
        return 0

    return run


def _os_message(error: Exception) -> str:
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


def add_command(stages: argparse._SubParsersAction) -> None:
    report = stages.add_parser(
        "report", help="data funnel, loss curve, and the paper's tables with our numbers"
    )
    kinds = report.add_subparsers(dest="step", required=True)

    dataset = kinds.add_parser("dataset", help="the data funnel of one dataset")
    dataset.add_argument("--seed-funnel", default=None, metavar="FILE", help="seeds funnel.json")
    dataset.add_argument(
        "--generation-counts",
        nargs="*",
        default=[],
        metavar="FILE",
        help="counts JSON of each generation step, in pipeline order",
    )
    dataset.add_argument(
        "--dataset-funnel", required=True, metavar="FILE", help="dataset (selection) funnel.json"
    )
    dataset.add_argument("--output-dir", required=True, metavar="DIR")
    dataset.set_defaults(func=_runner(dataset_report), section=None)

    training = kinds.add_parser("training", help="the loss curve of one training")
    training.add_argument(
        "--loss",
        required=True,
        metavar="FILE",
        help="training loss.csv (beside it, skipped.json: the training was skipped)",
    )
    training.add_argument("--output-dir", required=True, metavar="DIR")
    training.set_defaults(func=_runner(training_report), section=None)

    table = kinds.add_parser("table", help="one of the paper's tables: ours, paper, delta")
    table.add_argument(
        "--spec",
        required=True,
        metavar="JSON",
        help="the table spec: shape, benchmarks, prompt and rows with their evaluation files",
    )
    table.add_argument("--output-dir", required=True, metavar="DIR")
    table.set_defaults(func=_runner(table_report), section=None)
