"""Execute one shard of response samples in the sandbox, resumably."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from selfcodealign.sandbox import SandboxPool
from selfcodealign.select.programs import build_program, format_problem


def execution_rows(
    samples: Iterable[tuple[int, dict]], pool: SandboxPool, cut_input_main: bool = True
) -> Iterator[dict]:
    """One result per sample: a format rejection, or the sandbox's verdict."""
    runnable: list[tuple[int, dict]] = []

    def run() -> Iterator[dict]:
        built = [build_program(s["response"], s["tests"], cut_input_main) for _, s in runnable]
        programs = [
            (s["id"], program) for (_, s), (program, _) in zip(runnable, built, strict=True)
        ]
        results = pool.run(programs)
        for (index, sample), (_, cut), result in zip(runnable, built, results, strict=True):
            yield {**_row(index, sample, result["status"], result), "input_main_cut": cut}
        runnable.clear()

    for index, sample in samples:
        problem = format_problem(sample["response"], sample["tests"])
        if problem:
            # Rows stay in input order: run what is pending before this rejection.
            yield from run()
            yield _row(index, sample, f"format:{problem}", None)
            continue
        runnable.append((index, sample))
        if len(runnable) == 256:
            yield from run()
    yield from run()


def _row(index: int, sample: dict, status: str, result: dict | None) -> dict:
    return {
        "row": index,
        "id": sample["id"],
        "instruction_id": sample["instruction_id"],
        "status": status,
        "passed": bool(result and result["passed"]),
        "duration_s": result["duration_s"] if result else 0.0,
        "detail": result["detail"] if result else "",
    }
