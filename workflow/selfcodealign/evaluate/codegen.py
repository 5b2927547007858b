"""Greedy completions for every task of a benchmark, written as an EvalPlus samples file.

Tasks run in batches of similar prompt length; rows go out one batch at a time through
``ResumableOutput``, so a killed job resumes with the tasks it had not finished. Each row is
EvalPlus's ``task_id`` + ``solution`` (sanitized by EvalPlus) with the raw solution, the finish
reason and the token count beside it.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from typing import Any

from selfcodealign.evaluate.datasets import Dataset
from selfcodealign.evaluate.prompts import build_prompt, to_solution
from selfcodealign.generation import Backend, SamplingSettings
from selfcodealign.jsonl import batched
from selfcodealign.progress import progress_bar
from selfcodealign.resumable import ResumableOutput, fingerprint

log = logging.getLogger(__name__)


def generate_samples(
    dataset: Dataset,
    backend: Backend,
    tokenizer,
    *,
    convention: str,
    max_tokens: int,
    batch_size: int,
    output: str | os.PathLike,
    fingerprint_parts: dict[str, Any],
    force_completion: bool = False,
) -> dict[str, Any]:
    """Write one greedy sample per task to ``output``; return what the run did (for the meta
    file: prompt style, stop strings, finish reasons, tokens, seconds)."""
    tasks = list(dataset.tasks.values())
    prompts = [
        build_prompt(task, convention, dataset.name, tokenizer, force_completion) for task in tasks
    ]
    styles = {prompt.style for prompt in prompts}
    stops = {prompt.stop for prompt in prompts}
    assert len(styles) == 1 and len(stops) == 1, "one convention gives one style and stop list"
    stop = stops.pop()
    # Greedy: temperature 0 gives the same answer whatever the seed.
    sampling = SamplingSettings(n=1, temperature=0.0, top_p=1.0, max_tokens=max_tokens, stop=stop)
    sink = ResumableOutput(
        output,
        fingerprint(
            convention=convention,
            force_completion=force_completion,
            max_tokens=max_tokens,
            dataset=dataset.md5,
            stop=list(stop),
            **fingerprint_parts,
        ),
    )
    finished = set(sink.done)
    done = len(finished)
    if done:
        log.info("resuming %s: %d of %d tasks already done", sink.partial, done, len(tasks))
    bar = progress_bar(total=len(tasks), initial=done, desc=f"{dataset.name}-{convention}")
    started = time.monotonic()
    tokens = 0
    pending = [
        (index, pair)
        for index, pair in enumerate(zip(tasks, prompts, strict=True))
        if index not in finished
    ]
    # Prompts of similar length share a batch, so little of it is padding.
    pending.sort(key=lambda item: len(item[1][1].text))
    for batch in batched(pending, batch_size):
        results = backend.generate([prompt.text for _, (_, prompt) in batch], sampling)
        for (index, (task, prompt)), (completion,) in zip(batch, results, strict=True):
            solution, raw = to_solution(prompt, completion.text, task["entry_point"])
            sink.write(
                {
                    "row": index,
                    "task_id": task["task_id"],
                    "solution": solution,
                    "raw_solution": raw,
                    "completion": completion.text,
                    "finish_reason": completion.finish_reason,
                    "tokens": completion.tokens,
                }
            )
            tokens += completion.tokens
        sink.flush()
        bar.update(len(batch))
    bar.close()
    finish_reasons = Counter(row["finish_reason"] for row in sink.rows())
    sink.finish(drop_key=True)
    seconds = time.monotonic() - started
    log.info("%d tasks now, %d resumed, %d tokens in %.1f s", len(pending), done, tokens, seconds)
    return {
        "prompt_style": styles.pop(),
        "stop": list(stop),
        "finish_reasons": dict(sorted(finish_reasons.items())),
        "tasks": len(tasks),
        "tasks_resumed": done,
        "tokens_now": tokens,
        "seconds_now": round(seconds, 2),
    }
