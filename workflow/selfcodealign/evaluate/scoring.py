"""Score an EvalPlus samples file with EvalPlus's own evaluator, in a fresh directory, inside
bubblewrap when it can run.

EvalPlus writes ``<samples>_eval_results.json`` next to the samples and silently reuses such a
file when it exists (and asks ``input()`` in its overwrite mode): each run therefore copies the
samples into a new, empty directory. Its ground-truth cache (``$XDG_CACHE_HOME/evalplus``) also
lives in that directory. The evaluator runs in a subprocess so that the dataset override
variables are set before evalplus is imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from selfcodealign.evaluate.datasets import Dataset, evalplus_env
from selfcodealign.jsonl import BadInput, read_jsonl, write_jsonl
from selfcodealign.resumable import file_digest
from selfcodealign.sandbox.isolation import bwrap_command, require

log = logging.getLogger(__name__)

# Runs in the subprocess. EvalPlus leaves a non-daemon "stuck" watcher thread that sleeps 20 s:
# exit right after its results file is written instead of waiting for it.
_RUNNER = """
import os, sys
from evalplus.evaluate import evaluate
evaluate(dataset=sys.argv[1], samples=sys.argv[2], parallel=int(sys.argv[3]),
         min_time_limit=float(sys.argv[4]), gt_time_limit_factor=float(sys.argv[5]),
         i_just_wanna_run=False)
sys.stdout.flush(); sys.stderr.flush()
os._exit(0)
"""

SAMPLES_NAME = "samples.jsonl"
RESULTS_NAME = "samples_eval_results.json"  # EvalPlus's own naming for samples.jsonl


def fresh_directory(path: str | os.PathLike) -> Path:
    """An empty directory at ``path`` (whatever an earlier run left there is removed)."""
    run_dir = Path(path).absolute()
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return run_dir


def evalplus_command(
    dataset: Dataset,
    samples: Path,
    parallel: int,
    min_time_limit: float = 1.0,
    gt_time_limit_factor: float = 4.0,
) -> list[str]:
    return [
        sys.executable,
        "-c",
        _RUNNER,
        dataset.name,
        str(samples),
        str(parallel),
        str(min_time_limit),
        str(gt_time_limit_factor),
    ]


def statuses_from_results(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per task, per sample (EvalPlus's completion order): base and plus status."""
    return {
        task_id: [{"base": r["base_status"], "plus": r["plus_status"]} for r in rows]
        for task_id, rows in sorted(results["eval"].items(), key=lambda kv: _task_key(kv[0]))
    }


def _task_key(task_id: str) -> tuple[str, int]:
    prefix, _, number = task_id.rpartition("/")
    return (prefix, int(number)) if number.isdigit() else (task_id, -1)


def passes_plus(sample: dict[str, Any]) -> bool:
    """The plus verdict of one sample: its base and its plus tests both pass."""
    return sample["base"] == "pass" and sample["plus"] == "pass"


def pass_at_1(statuses: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """EvalPlus's pass@1 (mean over tasks of the fraction of passing samples); plus requires
    base and plus tests to pass."""
    base = [sum(s["base"] == "pass" for s in rows) / len(rows) for rows in statuses.values()]
    plus = [sum(map(passes_plus, rows)) / len(rows) for rows in statuses.values()]
    return {"base": sum(base) / len(base), "plus": sum(plus) / len(plus)}


ASSEMBLIES = ("sanitized", "prompt_plus_code")


def fenced_code(completion: str) -> str:
    """The code of a completion as the reference evaluation reads it: after the last python
    fence, up to the next fence (all of it when there is no fence)."""
    return completion.split("```python")[-1].split("```")[0]


def check_tasks(rows: list[dict[str, Any]], dataset: Dataset) -> None:
    """One sample per task of the dataset, no more and no other (EvalPlus would otherwise stop
    with an assertion, or score what it finds)."""
    seen = Counter(row.get("task_id") for row in rows)
    repeated = sorted(str(task) for task, count in seen.items() if count > 1)
    unknown = sorted(str(task) for task in seen if task not in dataset.tasks)
    missing = [task for task in dataset.tasks if task not in seen]
    problems = [
        f"{label}: {', '.join(tasks[:5])}{' ...' if len(tasks) > 5 else ''} ({len(tasks)})"
        for label, tasks in (("repeated", repeated), ("unknown", unknown), ("missing", missing))
        if tasks
    ]
    if problems:
        raise BadInput(f"samples do not match {dataset.name}: " + "; ".join(problems))


def assembled(rows: list[dict[str, Any]], dataset: Dataset, how: str) -> list[dict[str, Any]]:
    """Samples with the solution EvalPlus scores: ``sanitized`` keeps codegen's (EvalPlus's
    sanitizer on the completion); ``prompt_plus_code`` is the task's prompt followed by the
    completion's fenced code, unsanitized, as the paper's evaluation scored it."""
    check_tasks(rows, dataset)
    if how == "sanitized":
        return rows
    if how != "prompt_plus_code":
        raise ValueError(f"unknown solution assembly {how!r}: one of {ASSEMBLIES}")
    out = []
    for row in rows:
        if "completion" not in row:
            raise ValueError(
                f"{row['task_id']}: no 'completion' in the samples (written before it was kept);"
                " rerun codegen"
            )
        prompt = dataset.tasks[row["task_id"]]["prompt"]
        out.append({**row, "solution": prompt + fenced_code(row["completion"])})
    return out


def score_samples(
    samples: str | os.PathLike,
    dataset: Dataset,
    work_dir: str | os.PathLike,
    isolation: str = "auto",
    allow_unisolated: bool = False,
    parallel: int | None = None,
    min_time_limit: float = 1.0,
    gt_time_limit_factor: float = 4.0,
    timeout_s: float | None = None,
    solution: str = "sanitized",
) -> dict[str, Any]:
    """Score ``samples`` (EvalPlus JSONL: task_id with solution or completion) on ``dataset``.

    ``work_dir`` is emptied and holds the samples copy, the dataset file, EvalPlus's cache, its
    results file and log. Returns the summary (pass@1, per-task statuses, provenance).
    """
    used = require(isolation, allow_unisolated)
    run_dir = fresh_directory(work_dir)
    samples_copy = run_dir / SAMPLES_NAME
    write_jsonl(samples_copy, assembled(list(read_jsonl(samples)), dataset, solution))
    dataset_file = dataset.write(run_dir / "dataset")
    parallel = parallel or len(os.sched_getaffinity(0))
    command = evalplus_command(
        dataset, samples_copy, parallel, min_time_limit, gt_time_limit_factor
    )
    if used == "bwrap":
        command = [
            *bwrap_command(256, writable=[str(run_dir)]),
            "--chdir", str(run_dir),
            *command,
        ]  # fmt: skip
    env = {
        **os.environ,
        **evalplus_env(dataset, dataset_file),
        "XDG_CACHE_HOME": str(run_dir / "cache"),
        "TQDM_DISABLE": "1",
        "NO_COLOR": "1",
    }
    started = time.monotonic()
    with open(run_dir / "evalplus.log", "w", encoding="utf-8") as log_file:
        done = subprocess.run(
            command,
            env=env,
            cwd=run_dir,
            stdin=subprocess.DEVNULL,  # EvalPlus never gets to ask anything
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
        )
    seconds = time.monotonic() - started
    results_path = run_dir / RESULTS_NAME
    if done.returncode != 0 or not results_path.is_file():
        tail = (run_dir / "evalplus.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"EvalPlus failed (exit {done.returncode}):\n{tail}")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    if results["hash"] != dataset.md5:
        raise RuntimeError(f"EvalPlus used dataset {results['hash']}, not {dataset.md5}")
    statuses = statuses_from_results(results)
    return {
        "dataset": dataset.name,
        "dataset_version": dataset.version,
        "dataset_md5": dataset.md5,
        "dataset_source": dataset.source,
        "tasks_in_dataset": len(dataset.tasks),
        "samples": os.fspath(samples),
        "samples_md5": file_digest(samples, "md5"),
        "pass@1": pass_at_1(statuses),
        "evalplus_version": importlib.metadata.version("evalplus"),
        "isolation": used,
        "parallel": parallel,
        "min_time_limit": min_time_limit,
        "gt_time_limit_factor": gt_time_limit_factor,
        "solution": solution,
        "seconds": round(seconds, 2),
        "evalplus_results": str(results_path),
        "tasks": statuses,
    }
