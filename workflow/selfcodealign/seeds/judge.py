"""Docstring-quality judge: the base model decides, few-shot, whether a docstring is useful.

Greedy decoding, a few tokens, stop at newline; a seed is kept on "Yes". Any other answer is
counted under its own reason so that nothing is dropped silently.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from selfcodealign.funnel import StepCounts
from selfcodealign.generation import Backend, SamplingSettings

PROMPT_PATH = Path(__file__).resolve().parents[2] / "prompts" / "docstring_judge.yaml"


@cache
def load_judge_prompt(path: str = str(PROMPT_PATH)) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        prompt = yaml.safe_load(handle)
    answers = [example["answer"] for example in prompt["examples"]]
    if sorted(set(answers)) != ["No", "Yes"]:
        raise ValueError(f"{path}: examples must answer Yes or No, got {answers}")
    return prompt


def _block(function: str, question: str) -> str:
    return f"```python\n{function.rstrip()}\n```\n{question}"


def build_prompt(function: str, row_seed: int, prompt: dict[str, Any] | None = None) -> str:
    """The judge prompt for one function; the example order depends only on ``row_seed``."""
    prompt = prompt or load_judge_prompt()
    examples = list(prompt["examples"])
    random.Random(row_seed).shuffle(examples)
    parts = [prompt["instruction"].strip(), ""]
    for example in examples:
        parts += [_block(example["function"], prompt["question"]) + " " + example["answer"], ""]
    parts.append(_block(function, prompt["question"]))
    return "\n".join(parts)


def parse_verdict(text: str) -> str:
    """``yes``, ``no`` or ``unclear`` from the model's few tokens."""
    words = text.strip().split()
    first = words[0].strip(".,:;!\"'").lower() if words else ""
    return first if first in ("yes", "no") else "unclear"


def judge_records(
    records: Iterable[dict],
    backend: Backend,
    settings: dict[str, Any],
    seed: int,
    counts: StepCounts,
) -> Iterator[dict]:
    sampling = SamplingSettings(
        n=1, temperature=0.0, max_tokens=settings["max_tokens"], stop=("\n",), seed=seed
    )
    batch: list[dict] = []

    def flush() -> Iterator[dict]:
        prompts = [build_prompt(r["seed"], seed + counts.input + i) for i, r in enumerate(batch)]
        for record, (completion,) in zip(batch, backend.generate(prompts, sampling), strict=True):
            verdict = parse_verdict(completion.text)
            if verdict == "yes":
                counts.keep()
                yield record
            else:
                counts.drop("judge_no" if verdict == "no" else "judge_unclear")

    for record in records:
        batch.append(record)
        if len(batch) == settings["batch_size"]:
            yield from flush()
            batch = []
    if batch:
        yield from flush()
