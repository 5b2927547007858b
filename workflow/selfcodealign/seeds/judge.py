"""Docstring-quality judge: the base model decides, few-shot, whether a docstring is enough to
re-implement its function and agrees with the code.

Each function is shown as its code without the docstring, then the docstring apart. Greedy
decoding, a few tokens, stop at newline; a seed is kept when its answer says "yes" more often
than "no" (the reference's majority rule). Any other answer is counted under its own reason so
that nothing is dropped silently.
"""

from __future__ import annotations

import ast
import inspect
import random
import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

import yaml

from selfcodealign.funnel import StepCounts
from selfcodealign.generation import Backend, SamplingSettings
from selfcodealign.package_data import data_file
from selfcodealign.seeds.extract import docstring_node

PROMPT_PATH = data_file("prompts", "docstring_judge.yaml")


@cache
def load_judge_prompt(path: str = str(PROMPT_PATH)) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        prompt = yaml.safe_load(handle)
    answers = [example["answer"] for example in prompt["examples"]]
    if sorted(set(answers)) != ["No", "Yes"]:
        raise ValueError(f"{path}: examples must answer Yes or No, got {answers}")
    return prompt


def split_docstring(function: str) -> tuple[str, str]:
    """(the function's code without its docstring, the docstring's text); the code unchanged and
    an empty docstring when there is none or the code does not parse."""
    try:
        node = ast.parse(function).body[0]
    except (SyntaxError, IndexError):
        return function, ""
    is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    doc = docstring_node(node) if is_function else None
    if doc is None:
        return function, ""
    lines = function.splitlines(keepends=True)
    code = "".join(lines[: doc.lineno - 1] + lines[doc.end_lineno :])
    return code, inspect.cleandoc(doc.value)


def _block(function: str, question: str) -> str:
    code, docstring = split_docstring(function)
    return f"```python\n{code.rstrip()}\n```\nDocstring:\n{docstring}\n\n{question}"


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
    """``yes`` or ``no``, whichever word the model's few tokens hold more often, else
    ``unclear``."""
    words = re.findall(r"[a-z]+", text.lower())
    yes, no = words.count("yes"), words.count("no")
    return "yes" if yes > no else "no" if no > yes else "unclear"


def judge_verdicts(
    rows: Iterable[tuple[int, dict]],
    backend: Backend,
    settings: dict[str, Any],
    seed: int,
) -> Iterator[tuple[int, dict, str]]:
    """(row index, record, verdict) per record, in order. A row's prompt depends on its index
    in the whole input only, so shards and resumed runs ask exactly what one run would."""
    sampling = SamplingSettings(
        n=1, temperature=0.0, max_tokens=settings["max_tokens"], stop=("\n",), seed=seed
    )
    batch: list[tuple[int, dict]] = []

    def flush() -> Iterator[tuple[int, dict, str]]:
        prompts = [build_prompt(record["seed"], seed + index) for index, record in batch]
        completions = backend.generate(prompts, sampling)
        for (index, record), (completion,) in zip(batch, completions, strict=True):
            yield index, record, parse_verdict(completion.text)

    for row in rows:
        batch.append(row)
        if len(batch) == settings["batch_size"]:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def count_verdict(verdict: str, counts: StepCounts) -> bool:
    """Count one verdict; True when the seed is kept."""
    if verdict == "yes":
        counts.keep()
        return True
    counts.drop("judge_no" if verdict == "no" else "judge_unclear")
    return False


def judge_records(
    records: Iterable[dict],
    backend: Backend,
    settings: dict[str, Any],
    seed: int,
    counts: StepCounts,
) -> Iterator[dict]:
    """The records the judge keeps, in one pass."""
    for _, record, verdict in judge_verdicts(enumerate(records), backend, settings, seed):
        if count_verdict(verdict, counts):
            yield record
