"""HumanEval+ / MBPP+ prompts in the two conventions, and completions turned into solutions.

``paper``: the SelfCodeAlign evaluation prompt: for HumanEval+, a header line and the problem
in a python fence as the user turn; for MBPP+, the task's description and its example assertion
in a python fence, with no header; the response prefilled with a python fence, generation
stopped at the closing fence. ``evalplus``: EvalPlus's own default (its instruction and response
prefixes, through EvalPlus's ``make_raw_chat_prompt``). A tokenizer without a chat template (a
base model) gets a plain completion prompt in both conventions, exactly as EvalPlus treats base
models: the problem itself, EvalPlus's stop strings, and the solution is problem + completion.
``force_completion`` gives a base model that ships a chat template the same plain prompt
(EvalPlus's ``--force-base-prompt``), which is how base models are scored on its leaderboard and
in the paper.

Solutions go through EvalPlus's ``sanitize`` (as ``evalplus.codegen`` does); the raw text and
the completion are kept beside them, so scoring can assemble the paper's way instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONVENTIONS = ("paper", "evalplus")
PAPER_HEADER = "Write a Python function to solve the following task:"
PYTHON_FENCE = "```python\n"
# EvalPlus 0.3.x's default prefixes (evalplus/codegen.py, without --evalperf-type).
EVALPLUS_INSTRUCTION = (
    "Please provide a self-contained Python script that solves the following problem in a "
    "markdown code block:"
)
EVALPLUS_RESPONSE = (
    "Below is a Python script with a self-contained function that solves the problem and "
    "passes corresponding tests:"
)


@dataclass(frozen=True)
class TaskPrompt:
    text: str  # what the model continues
    stop: tuple[str, ...]
    style: str  # "chat" (through the chat template) or "completion" (plain continuation)
    prefix: str  # prepended to the completion to form the raw solution


def has_chat_template(tokenizer) -> bool:
    return getattr(tokenizer, "chat_template", None) is not None


def problem_text(task: dict[str, Any]) -> str:
    """The problem as EvalPlus's codegen passes it to a model."""
    return task["prompt"].strip() + "\n"


def _without_bos(text: str, tokenizer) -> str:
    """Backends tokenize prompts with the tokenizer's special tokens: a BOS rendered by the chat
    template would then appear twice."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        return text[len(bos) :]
    return text


def mbpp_instruction(prompt: str) -> str:
    """The paper's MBPP+ instruction: the task's description (ending in a period), a blank line,
    and its example assertion in a python fence; no header. Both come from the text between the
    prompt's outer triple quotes, split at its first ``assert``."""
    inner = prompt[prompt.index('"""') + 3 : prompt.rindex('"""')]
    split = inner.index("assert")
    description, assertion = inner[:split].strip(), inner[split:].strip()
    if not description.endswith("."):
        description += "."
    return f"{description}\n\n{PYTHON_FENCE}{assertion}\n```"


def build_prompt(
    task: dict[str, Any],
    convention: str,
    benchmark: str,
    tokenizer,
    force_completion: bool = False,
) -> TaskPrompt:
    from evalplus.provider.utility import (
        EOS,
        extra_eos_for_direct_completion,
        make_raw_chat_prompt,
    )

    if convention not in CONVENTIONS:
        raise ValueError(f"unknown prompt convention {convention!r}: one of {CONVENTIONS}")
    problem = problem_text(task)
    if force_completion or not has_chat_template(tokenizer):
        stop = (*EOS, *extra_eos_for_direct_completion(benchmark))
        return TaskPrompt(problem, stop, "completion", problem)
    if convention == "evalplus":
        text = make_raw_chat_prompt(problem, EVALPLUS_INSTRUCTION, EVALPLUS_RESPONSE, tokenizer)
        return TaskPrompt(_without_bos(text, tokenizer), (*EOS, "\n```\n"), "chat", "")
    instruction = (
        mbpp_instruction(task["prompt"])
        if benchmark == "mbpp"
        else f"{PAPER_HEADER}\n{PYTHON_FENCE}{problem.strip()}\n```"
    )
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
    )
    return TaskPrompt(_without_bos(text, tokenizer) + PYTHON_FENCE, ("\n```",), "chat", "")


def to_solution(prompt: TaskPrompt, completion: str, entry_point: str) -> tuple[str, str]:
    """(sanitized solution, raw solution) as EvalPlus's codegen writes them."""
    from evalplus.sanitize import sanitize

    raw = prompt.prefix + completion.replace("\t", "    ")
    return sanitize(raw, entrypoint=entry_point), raw
