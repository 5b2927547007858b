"""Type check candidate seeds with Pyright, many files per call; keep zero-error functions.

Missing imports are inferred first with ``autoimport`` (a function that uses ``re`` without
importing it is not a type error of the function). A Pyright crash or timeout on a batch is
retried on each half of the batch, down to single files, so one poisonous file costs only
itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfcodealign.funnel import StepCounts
from selfcodealign.jsonl import batched

PYRIGHT_CONFIG = {
    "typeCheckingMode": "standard",
    "reportMissingModuleSource": "none",
}


def infer_imports(code: str) -> str:
    """``code`` with the imports it evidently needs added; unchanged if autoimport fails."""
    import autoimport

    try:
        return autoimport.fix_code(code)
    except Exception:  # autoimport raises on odd but valid code; typing then decides
        return code


@dataclass
class BatchResult:
    """Error counts per file index, or ``crashed`` when Pyright gave no usable report."""

    errors: dict[int, int]
    crashed: bool = False
    reason: str = ""


def run_pyright(codes: list[str], timeout_s: float) -> BatchResult:
    """Type check ``codes`` (one file each) in one Pyright call."""
    with tempfile.TemporaryDirectory(prefix="sca-pyright-") as tmp:
        root = Path(tmp)
        (root / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG))
        names = []
        for index, code in enumerate(codes):
            name = f"f{index:06d}.py"
            (root / name).write_text(code, encoding="utf-8", errors="surrogatepass")
            names.append(name)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pyright", "--outputjson", *names],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return BatchResult({}, crashed=True, reason="timeout")
        # Exit 0: no errors, 1: errors found; anything else is a Pyright failure.
        if proc.returncode not in (0, 1):
            return BatchResult({}, crashed=True, reason=f"exit {proc.returncode}")
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return BatchResult({}, crashed=True, reason="unreadable report")
    errors = dict.fromkeys(range(len(codes)), 0)
    index_of = {name: i for i, name in enumerate(names)}
    for diagnostic in report.get("generalDiagnostics", []):
        if diagnostic.get("severity") == "error":
            index = index_of.get(Path(diagnostic.get("file", "")).name)
            if index is not None:
                errors[index] += 1
    return BatchResult(errors)


def check_batch(codes: list[str], timeout_s: float, runner=run_pyright) -> list[int | None]:
    """Error count per code; ``None`` for a file on which Pyright itself kept failing."""
    if not codes:
        return []
    result = runner(codes, timeout_s)
    if not result.crashed:
        return [result.errors.get(i, 0) for i in range(len(codes))]
    if len(codes) == 1:
        return [None]
    middle = len(codes) // 2
    return check_batch(codes[:middle], timeout_s, runner) + check_batch(
        codes[middle:], timeout_s, runner
    )


def typecheck_records(
    records: Iterable[dict], settings: dict[str, Any], counts: StepCounts, runner=run_pyright
) -> Iterator[dict]:
    """Yield the records whose function type checks with zero errors."""
    counts.extra.setdefault("pyright_calls", 0)
    calls = 0

    def counting_runner(codes: list[str], timeout_s: float) -> BatchResult:
        nonlocal calls
        calls += 1
        return runner(codes, timeout_s)

    for batch in batched(records, settings["batch_size"]):
        codes = [
            infer_imports(r["seed"]) if settings["infer_imports"] else r["seed"] for r in batch
        ]
        for record, errors in zip(
            batch, check_batch(codes, settings["timeout_s"], counting_runner), strict=True
        ):
            if errors is None:
                counts.drop("pyright_crash")
            elif errors:
                counts.drop("type_errors")
            else:
                counts.keep()
                yield record
        counts.extra["pyright_calls"] = calls
