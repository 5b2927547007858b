"""Resume after a kill: the latest complete checkpoint, torn ones set aside.

The Trainer writes ``trainer_state.json`` last, so a checkpoint without it was cut short
(a job killed mid-save) and must not be resumed from.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE = "trainer_state.json"


def checkpoint_step(path: str | os.PathLike) -> int:
    match = _CHECKPOINT.match(Path(path).name)
    if not match:
        raise ValueError(f"{path}: not a checkpoint directory")
    return int(match.group(1))


def _checkpoints(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    complete = [p for p in _checkpoints(Path(directory)) if (p / STATE).exists()]
    return complete[-1] if complete else None


def remove_torn(directory: str | os.PathLike) -> list[Path]:
    """Delete checkpoints without their state file (call on the main process only)."""
    torn = [p for p in _checkpoints(Path(directory)) if not (p / STATE).exists()]
    for path in torn:
        log.warning("removing incomplete checkpoint %s", path)
        shutil.rmtree(path)
    return torn


def remove_all(directory: str | os.PathLike) -> None:
    for path in _checkpoints(Path(directory)):
        shutil.rmtree(path)
