"""Streaming JSON Lines input and output.

Every stage reads and writes one JSON object per line so that memory stays flat however large
the input grows. Writers go to a temporary file that is renamed on success: a job that dies
never leaves a half-written output that looks complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")


class BadInput(ValueError):
    """An input file that is not what a step reads; the message names the file and line."""


def read_jsonl(path: str | os.PathLike, required: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSONL file, one per non-empty line; a line that is not a JSON
    object, or lacks a ``required`` field, is a ``BadInput`` naming the file and line."""
    required = tuple(required)
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise BadInput(f"{path}:{line_number}: not a JSON object: {error}") from error
            if not isinstance(record, dict):
                raise BadInput(f"{path}:{line_number}: not a JSON object: {line.strip()[:60]}")
            missing = [name for name in required if name not in record]
            if missing:
                raise BadInput(f"{path}:{line_number}: no {', '.join(map(repr, missing))} field")
            yield record


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


@contextmanager
def atomic_writer(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """Open ``path`` for writing (text, or bytes if ``binary``) through a temporary sibling
    renamed on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with open(partial, "wb") if binary else open(partial, "w", encoding="utf-8") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` as JSONL atomically; return how many were written."""
    count = 0
    with atomic_writer(path) as handle:
        for record in records:
            handle.write(dumps(record) + "\n")
            count += 1
    return count


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_writer(path) as handle:
        json.dump(obj, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
