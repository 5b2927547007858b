"""Too few pairs to train on: the check, and the marker a skipped training leaves.

A weak generator may leave a dataset with only a few usable pairs (rows within
``max_length``). Below the recipe's ``min_pairs`` that is a normal outcome, not an error:
``train finetune`` writes the output directory with ``skipped.json`` alone and exits 0, and the
jobs after it (codegen, evaluate, the reports) read the marker and say the model was not
trained, with the count, instead of a score.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import read_json, write_json

log = logging.getLogger(__name__)
MARKER = "skipped.json"
TOO_FEW_PAIRS = "too_few_pairs"


def check(pairs: int, min_pairs: int, dataset: str | os.PathLike) -> dict[str, Any] | None:
    """The marker's content when ``pairs`` usable pairs are fewer than ``min_pairs``, else None."""
    if pairs >= min_pairs:
        return None
    return {
        "reason": TOO_FEW_PAIRS,
        "pairs": int(pairs),
        "min_pairs": int(min_pairs),
        "dataset": os.fspath(dataset),
    }


def write_marker(output: str | os.PathLike, marker: dict[str, Any]) -> Path:
    """``output`` with the marker in it; a stale ``training.json`` there is removed, so nothing
    in the directory claims a finished training. Logs one warning naming the count."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "training.json").unlink(missing_ok=True)
    path = output / MARKER
    write_json(path, marker)
    log.warning(
        "%s: %d usable training pairs, fewer than min_pairs %d: not training (%s written)",
        marker["dataset"],
        marker["pairs"],
        marker["min_pairs"],
        path,
    )
    return path


def read_marker(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of a skipped training in ``model_dir``, None when there is none (a trained
    model, or a Hub id). A marker that is not one raises ValueError naming the file."""
    path = Path(model_dir) / MARKER
    if not path.is_file():
        return None
    return check_marker(read_json(path), str(path))


def _count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_marker(data: Any, source: str) -> dict[str, Any]:
    """``data`` if it is a marker (reason, pairs, min_pairs), else ValueError naming ``source``."""
    if (
        not isinstance(data, dict)
        or data.get("reason") != TOO_FEW_PAIRS
        or not _count(data.get("pairs"), 0)
        or not _count(data.get("min_pairs"), 1)
    ):
        raise ValueError(
            f"{source}: expected a skipped-training marker"
            f' {{"reason": "{TOO_FEW_PAIRS}", "pairs": n, "min_pairs": m}}, got {data!r}'
        )
    return data


def describe(marker: dict[str, Any]) -> str:
    """What a table cell says instead of a score: ``too few pairs (3 < 10)``."""
    return f"too few pairs ({marker['pairs']} < {marker['min_pairs']})"
