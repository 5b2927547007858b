"""The evaluation of a training skipped for too few pairs (``selfcodealign.train.skip``).

Such a model directory holds a marker and no weights. ``codegen`` then generates nothing: it
writes an empty samples file and provenance carrying the marker (``not_trained``), and
``evaluate`` writes a summary with that marker and no pass@1 (``null``) instead of scoring.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from selfcodealign.evaluate.datasets import Dataset
from selfcodealign.jsonl import atomic_writer, write_json
from selfcodealign.train import skip

log = logging.getLogger(__name__)
NOT_TRAINED = "not_trained"


def marker_of(args: argparse.Namespace) -> dict[str, Any] | None:
    """The skip marker of the fine-tuned model a codegen command names, None otherwise."""
    name = args.model.get("name") if isinstance(args.model, dict) else None
    if args.model_kind != "finetuned" or not isinstance(name, str):
        return None
    return skip.read_marker(name)


def record(args: argparse.Namespace, marker: dict[str, Any]) -> int:
    """For a skipped training: an empty samples file and provenance carrying the marker."""
    with atomic_writer(args.output):
        pass  # no model, no samples
    write_json(
        args.meta,
        {
            "model": args.model_kind,
            "model_name": args.model_name or args.model["name"],
            "benchmark": args.benchmark,
            "prompt": args.prompt,
            NOT_TRAINED: marker,
        },
    )
    log.warning(
        "%s was not trained (%s): no samples for %s %s",
        args.model["name"],
        skip.describe(marker),
        args.benchmark,
        args.prompt,
    )
    return 0


def marker_in(meta: dict[str, Any], source: str | None) -> dict[str, Any] | None:
    """The not-trained marker a codegen provenance carries, None for a model that generated."""
    if meta.get(NOT_TRAINED) is None:
        return None
    return skip.check_marker(meta[NOT_TRAINED], f"{source}: {NOT_TRAINED}")


def summary(dataset: Dataset, meta: dict[str, Any]) -> dict[str, Any]:
    """The evaluation summary of a model that was not trained: the marker, no score."""
    return {
        "benchmark": dataset.name,
        "dataset": dataset.name,
        "dataset_version": dataset.version,
        "dataset_md5": dataset.md5,
        "dataset_source": dataset.source,
        "tasks_in_dataset": len(dataset.tasks),
        **meta,
        "pass@1": None,
        "tasks": {},
    }
