"""Run one prompt mode over one shard of rows, writing results as they come, resumably.

Rows run in batches of similar prompt length and their results go to ``<output>.partial`` one
row at a time (flushed per batch). A killed job resumes with the rows it had not finished:
finished rows are read back, a torn last line is cut, and no row is lost or written twice. The
partial file starts with a fingerprint of everything that shapes the results (mode, settings,
model, seed, input); a mismatch starts afresh. On success the partial file becomes the output.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from selfcodealign.generation import Backend, Completion, SamplingSettings
from selfcodealign.instruct.parse import (
    Rejected,
    parse_concepts,
    parse_instruction,
    parse_response,
)
from selfcodealign.instruct.pool import Example
from selfcodealign.instruct.prompts import Prompt, build_prompt, stop_after, stop_strings
from selfcodealign.jsonl import batched
from selfcodealign.progress import progress_bar
from selfcodealign.resumable import ResumableOutput, fingerprint

log = logging.getLogger(__name__)


def shard_rows(
    rows: Iterable[dict], shard: int, shards: int, limit: int | None
) -> Iterator[tuple[int, dict]]:
    """(global row index, row) for the rows of one shard: every ``shards``-th row."""
    for index, row in enumerate(rows):
        if limit is not None and index >= limit:
            return
        if index % shards == shard:
            yield index, row


def _interpret(
    mode: str,
    row: dict,
    prompts: Sequence[Prompt],
    completions: Sequence[Completion],
    lenient: bool = False,
) -> dict:
    """The result record of one input row: one prompt, or one prompt per sample (I->R with
    distinct shots, each sample recording its examples)."""
    prompt = prompts[0]
    out = {**row, "prompt_examples": list(prompt.example_ids)}
    if prompt.property is not None:
        out["category"] = prompt.property.category
        out["difficulty"] = prompt.property.difficulty
    if mode == "i2r":
        samples = []
        for k, completion in enumerate(completions):
            sample = {"sample": k, "finish_reason": completion.finish_reason}
            if len(prompts) > 1:
                sample["prompt_examples"] = list(prompts[k].example_ids)
            if completion.finish_reason == "length":
                sample["status"] = "truncated"
            else:
                try:
                    parsed = parse_response(completion.text, lenient)
                    sample.update(status="ok", response=parsed.response, tests=parsed.tests)
                except Rejected as rejection:
                    sample["status"] = rejection.reason
            sample["raw"] = completion.text
            samples.append(sample)
        out["samples"] = samples
        return out
    (completion,) = completions
    out["finish_reason"] = completion.finish_reason
    out["raw"] = completion.text
    if completion.finish_reason == "length":
        out["status"] = "truncated"
        return out
    try:
        if mode == "s2c":
            out["concepts"] = parse_concepts(completion.text)
        else:
            out["instruction"] = parse_instruction(completion.text)
        out["status"] = "ok"
    except Rejected as rejection:
        out["status"] = rejection.reason
    return out


def row_seed(seed: int, index: int, copy: int, copies: int) -> int:
    """The seed of one prompt (and its samples): the row's, or with distinct shots one per
    copy of the row."""
    return seed + index if copies == 1 else seed + index * copies + copy


def run_shard(
    mode: str,
    rows: Iterable[tuple[int, dict]],
    backend: Backend,
    *,
    pool: Sequence[Example],
    shots: int,
    sampling: dict[str, Any],
    seed: int,
    batch_size: int,
    output: str | os.PathLike,
    fingerprint_parts: dict[str, Any],
    total: int | None = None,
    distinct_shots: bool = False,
    headings: str = "plain",
) -> dict[str, int]:
    """Generate for every row not yet done; return how many rows ran now and were resumed.

    With ``distinct_shots`` (I->R), a row's ``n`` samples come from ``n`` prompts of one sample
    each, every prompt with its own examples; the row is written once all of them are back.
    """
    copies = sampling.get("n", 1) if (mode == "i2r" and distinct_shots) else 1
    # Only settings away from the default enter the fingerprint: older partial files resume.
    parts = {"distinct_shots": True} if copies > 1 else {}
    if headings != "plain":
        parts["headings"] = headings
    lenient = headings == "numbered"
    expected = fingerprint(
        mode=mode, shots=shots, sampling=sampling, seed=seed, **parts, **fingerprint_parts
    )
    sink = ResumableOutput(output, expected)
    done = set(sink.done)
    if done:
        log.info("resuming %s: %d rows already done", sink.partial, len(done))
    per_prompt = {"n": 1, **sampling}
    if copies > 1:
        per_prompt["n"] = 1
    settings = SamplingSettings.from_config(
        per_prompt, stop=stop_strings(mode), seed=seed, stop_after=stop_after(mode)
    )
    ran = tokens = 0
    started = time.monotonic()
    bar = progress_bar(total=total, initial=len(done), desc=mode, unit="row")
    # Copies of a row come back in different batches: held here until the row is complete.
    waiting: dict[int, dict[int, tuple[Prompt, Completion]]] = {}

    def generate(batch: list[tuple[int, dict, int, Prompt]]) -> None:
        nonlocal ran, tokens
        seeds = [row_seed(seed, index, copy, copies) for index, _, copy, _ in batch]
        results = backend.generate([prompt.text for *_, prompt in batch], settings, seeds)
        finished = 0
        for (index, row, copy, prompt), completions in zip(batch, results, strict=True):
            tokens += sum(c.tokens for c in completions)
            if copies == 1:
                record = _interpret(mode, row, [prompt], completions, lenient)
                sink.write({"row": index, **record})
                finished += 1
                continue
            (completion,) = completions
            waiting.setdefault(index, {})[copy] = (prompt, completion)
            if len(waiting[index]) == copies:
                copies_back = waiting.pop(index)
                held = [copies_back[k] for k in range(copies)]
                prompts, outs = [p for p, _ in held], [c for _, c in held]
                sink.write({"row": index, **_interpret(mode, row, prompts, outs, lenient)})
                finished += 1
        sink.flush()
        ran += finished
        bar.update(finished)
        elapsed = max(time.monotonic() - started, 1e-9)
        bar.set_postfix(tok_s=f"{tokens / elapsed:.1f}", row_s=f"{ran / elapsed:.2f}")

    # Prompts of similar length share a batch, so little of it is padding. Each prompt and its
    # seed depend on the row's index (and copy) only, so the order changes no result.
    pending = [
        (
            index,
            row,
            copy,
            build_prompt(mode, row, pool, shots, row_seed(seed, index, copy, copies), headings),
        )
        for index, row in rows
        if index not in done
        for copy in range(copies)
    ]
    pending.sort(key=lambda item: len(item[3].text))
    for batch in batched(pending, batch_size):
        generate(batch)
    bar.close()
    sink.finish()
    elapsed = time.monotonic() - started
    log.info(
        "%s: %d rows now, %d resumed, %d tokens in %.1f s (%.1f tokens/s)",
        mode,
        ran,
        len(done),
        tokens,
        elapsed,
        tokens / max(elapsed, 1e-9),
    )
    return {"rows_now": ran, "rows_resumed": len(done), "tokens": tokens}
