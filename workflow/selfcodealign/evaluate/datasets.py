"""HumanEval+ / MBPP+ pinned by content: the md5 and/or sha256 of the unzipped JSONL is checked
before use.

EvalPlus reads ``HUMANEVAL_OVERRIDE_PATH`` / ``MBPP_OVERRIDE_PATH`` once, when it is imported,
so this module never imports evalplus: scoring runs it in a fresh subprocess whose environment
points at the verified file (see :func:`evalplus_env`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASETS: dict[str, dict[str, str]] = {
    "humaneval": {
        "env": "HUMANEVAL_OVERRIDE_PATH",
        "file": "HumanEvalPlus",
        "version": "v0.1.10",
        "url": "https://github.com/evalplus/humanevalplus_release/releases/download/"
        "{version}/HumanEvalPlus{extra}.jsonl.gz",
    },
    "mbpp": {
        "env": "MBPP_OVERRIDE_PATH",
        "file": "MbppPlus",
        "version": "v0.2.0",
        "url": "https://github.com/evalplus/mbppplus_release/releases/download/"
        "{version}/MbppPlus{extra}.jsonl.gz",
    },
}


class DatasetHashMismatch(ValueError):
    """The dataset's content is not the pinned one."""


@dataclass
class Dataset:
    name: str  # "humaneval" or "mbpp" (EvalPlus's --dataset)
    version: str
    md5: str  # of the unzipped JSONL (what EvalPlus reports as the dataset hash)
    source: str  # the local path or URL it came from
    content: bytes = field(repr=False)
    tasks: dict[str, dict[str, Any]] = field(repr=False)

    def write(self, directory: str | os.PathLike) -> Path:
        """The verified, unzipped JSONL in ``directory`` (what EvalPlus is pointed at)."""
        path = Path(directory) / f"{DATASETS[self.name]['file']}-{self.version}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.content)
        return path


def release_url(name: str, version: str, mini: bool = False) -> str:
    return DATASETS[name]["url"].format(version=version, extra="-Mini" if mini else "")


def _read(source: str) -> bytes:
    if re.match(r"^[a-z]+://", source):
        with urllib.request.urlopen(source, timeout=120) as response:  # noqa: S310
            raw = response.read()
    else:
        raw = Path(source).read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _version_from(source: str, default: str) -> str:
    found = re.search(r"v\d+\.\d+\.\d+", os.path.basename(source))
    return found.group(0) if found else default


def load_dataset(
    name: str,
    path: str | os.PathLike | None,
    expected_md5: str | None,
    version: str | None = None,
    mini: bool = False,
    expected_sha256: str | None = None,
) -> Dataset:
    """Load ``name`` from a local ``.jsonl`` / ``.jsonl.gz`` (or the official release URL when
    ``path`` is None) and check the md5 / sha256 of the unzipped content against the pins.

    Both pins None skips the check (only for exploring: configs always pin a hash).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {sorted(DATASETS)}")
    if path is None:
        version = version or DATASETS[name]["version"]
        source = release_url(name, version, mini)
    else:
        source = os.fspath(path)
        version = version or _version_from(source, DATASETS[name]["version"])
    content = _read(source)
    md5 = hashlib.md5(content).hexdigest()
    for algorithm, expected in (("md5", expected_md5), ("sha256", expected_sha256)):
        found = md5 if algorithm == "md5" else hashlib.sha256(content).hexdigest()
        if expected is not None and found != expected.lower():
            raise DatasetHashMismatch(
                f"{name} dataset at {source} has {algorithm} {found} (of the unzipped JSONL), "
                f"but {expected} is pinned: this is not the expected dataset version. Point "
                "the config at the right file or update the pinned hash deliberately."
            )
    tasks = {}
    for number, line in enumerate(content.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                task = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{source}:{number}: not JSON: {error}") from error
            tasks[task["task_id"]] = task
    return Dataset(name, version, md5, source, content, tasks)


def evalplus_env(dataset: Dataset, jsonl: str | os.PathLike) -> dict[str, str]:
    """Environment variables that point EvalPlus at ``jsonl``: set them before evalplus is
    imported (in a subprocess). Refuses if this process already imported evalplus with another
    override, since EvalPlus would silently keep the first one."""
    variable = DATASETS[dataset.name]["env"]
    if "evalplus" in sys.modules and os.environ.get(variable) != os.fspath(jsonl):
        module = sys.modules.get(f"evalplus.data.{dataset.name}")
        current = getattr(module, variable, None) if module else None
        if current is not None and current != os.fspath(jsonl):
            raise RuntimeError(
                f"evalplus was already imported in this process with {variable}={current}"
            )
    return {variable: os.fspath(jsonl)}
