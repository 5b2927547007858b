"""An output file written row by row that a rerun continues instead of restarting.

Rows go to ``<output>.partial`` behind a first line holding a fingerprint of everything that
shapes them. A rerun with the same fingerprint keeps the finished rows (a torn last line, from
a job that died mid-write, is cut); another fingerprint starts afresh. ``finish`` moves the rows
to ``output`` in key order. Rows may be written in any order (generation batches rows of
similar length together), so ``done`` is the list of finished keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import dumps, write_jsonl


def fingerprint(**parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: str | os.PathLike, algorithm: str = "sha1") -> str:
    """Hex digest of a file, read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ResumableOutput:
    def __init__(self, output: str | os.PathLike, fingerprint: str, key: str = "row"):
        self.output = Path(output)
        self.partial = self.output.with_name(self.output.name + ".partial")
        self.fingerprint = fingerprint
        self.key = key
        self.done = self._resume()
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.partial, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        if not self.done:
            self._handle.write(json.dumps({"fingerprint": fingerprint}) + "\n")

    def _resume(self) -> list:
        """Keys of the rows already finished (empty if none or of other settings)."""
        if not self.partial.exists():
            return []
        with open(self.partial, "rb+") as handle:
            data = handle.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                handle.truncate(end)
        lines = data[:end].splitlines()
        if not lines or json.loads(lines[0]).get("fingerprint") != self.fingerprint:
            self.partial.unlink()
            return []
        return [json.loads(line)[self.key] for line in lines[1:]]

    def write(self, record: dict) -> None:
        self._handle.write(dumps(record) + "\n")

    def flush(self) -> None:
        """Make the rows written so far survive a kill."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def rows(self) -> Iterator[dict]:
        with open(self.partial, encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                yield json.loads(line)

    def finish(self, drop_key: bool = False) -> int:
        """Move the rows, sorted by key (without the fingerprint line, and without the key if
        asked), to the output; return their count. A key written twice is an error."""
        self._handle.close()
        records = sorted(self.rows(), key=lambda record: record[self.key])
        for before, after in zip(records, records[1:], strict=False):
            if before[self.key] == after[self.key]:
                raise RuntimeError(f"{self.partial}: row {after[self.key]} written twice")

        def ordered() -> Iterator[dict]:
            for record in records:
                if drop_key:
                    record = {k: v for k, v in record.items() if k != self.key}
                yield record

        count = write_jsonl(self.output, ordered())
        self.partial.unlink()
        return count

    def close(self) -> None:
        self._handle.close()
