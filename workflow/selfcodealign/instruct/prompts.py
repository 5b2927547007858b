"""Few-shot prompts for S->C, C->I, S->I and I->R, byte-identical across reruns.

A prompt is a one-line system text for the mode, ``k`` examples drawn without replacement from
the pool with a random state seeded by ``seed + row``, and the query the model completes.
Sections use ``### <Name>`` headers and examples ``## Example <i>`` headers, so generation stops
at the next header.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from selfcodealign.instruct.pool import DIFFICULTIES, Example

EXAMPLE_HEADER = "## Example"
SECTION = "### "

# Each mode's opening line says what the examples do and what a good answer is: original and
# varied tasks (not variations of the examples), concepts that a task needs without naming
# them, and answers whose tests check them.
SYSTEM = {
    "s2c": (
        "Each example names the programming concepts a Python snippet puts to use, as short "
        "phrases a programmer would need to know to write it."
    ),
    "c2i": (
        "Each example invents an original, self-contained Python coding task from a set of "
        "programming concepts and task properties. Every task is new and unlike the others; "
        "solving it calls for the concepts, but the task never names them."
    ),
    "s2i": (
        "Each example invents an original, self-contained Python coding task inspired by a "
        "code snippet. Every task is new and unlike the snippet and the other tasks."
    ),
    "i2r": (
        "Each example answers a Python coding task with a brief line of reasoning and a "
        "correct solution, then tests that run the solution and check that it is right."
    ),
}

# The paper's property distribution: 50% function, 25% class, 25% program implementation.
CATEGORY_WEIGHTS = {
    "function implementation": 2,
    "class implementation": 1,
    "program implementation": 1,
}


def fenced(code: str) -> str:
    return f"```python\n{code.strip(chr(10))}\n```"


def snippet(code: str) -> str:
    return f"{SECTION}Snippet\n{fenced(code)}"


def concepts_section(concepts: Sequence[str]) -> str:
    return f"{SECTION}Concepts\n{', '.join(concepts)}"


def property_section(category: str, difficulty: str, concepts: Sequence[str]) -> str:
    lines = [f"category: {category}", "language: Python", f"difficulty: {difficulty}"]
    lines.append(f"concepts: {', '.join(concepts)}")
    return f"{SECTION}Property\n" + "\n".join(lines)


def instruction_section(text: str) -> str:
    return f"{SECTION}Instruction\n{text.strip()}"


def response_section(response: str, tests: str) -> str:
    return f"{SECTION}Response\n{response.strip()}\n\n{SECTION}Tests\n{fenced(tests)}"


@dataclass(frozen=True)
class Property:
    category: str
    difficulty: str


def sample_property(rng: random.Random) -> Property:
    categories = list(CATEGORY_WEIGHTS)
    category = rng.choices(categories, weights=[CATEGORY_WEIGHTS[c] for c in categories])[0]
    return Property(category, rng.choice(DIFFICULTIES))


def _render(mode: str, example: Example) -> list[str]:
    if mode == "s2c":
        return [snippet(example.code), concepts_section(example.concepts)]
    if mode == "c2i":
        return [
            property_section(example.category, example.difficulty, example.concepts),
            instruction_section(example.instruction),
        ]
    if mode == "s2i":
        # The paper's seed->instruction ablation: no property, the snippet alone.
        return [snippet(example.code), instruction_section(example.instruction)]
    if mode == "i2r":
        return [
            instruction_section(example.instruction),
            response_section(example.response, example.tests),
        ]
    raise ValueError(f"unknown prompt mode {mode!r}")


def _query(mode: str, row: dict, prop: Property | None) -> list[str]:
    if mode == "s2c":
        return [snippet(row["seed"]), f"{SECTION}Concepts\n"]
    if mode == "c2i":
        return [
            property_section(prop.category, prop.difficulty, row["concepts"]),
            f"{SECTION}Instruction\n",
        ]
    if mode == "s2i":
        return [snippet(row["seed"]), f"{SECTION}Instruction\n"]
    if mode == "i2r":
        return [instruction_section(row["instruction"]), f"{SECTION}Response\n"]
    raise ValueError(f"unknown prompt mode {mode!r}")


@dataclass(frozen=True)
class Prompt:
    text: str
    example_ids: tuple[str, ...]
    property: Property | None


HEADINGS = ("plain", "numbered")
# Numbered I->R sections (the reference's Llama-3 data): every example's sections carry its
# number, and the opening line insists on both sections.
NUMBERED_I2R_NOTE = "Every example has both a Response section and a Tests section."
_I2R_SECTION = re.compile(r"^(### (?:Instruction|Response|Tests))$", re.M)


def _numbered(text: str, number: int) -> str:
    return _I2R_SECTION.sub(rf"\g<1> {number}", text)


def build_prompt(
    mode: str,
    row: dict,
    pool: Sequence[Example],
    shots: int,
    row_seed: int,
    headings: str = "plain",
) -> Prompt:
    """The prompt for one input row; everything random comes from ``row_seed``. With
    ``numbered`` headings (I->R only), each example's sections carry its number."""
    if headings not in HEADINGS:
        raise ValueError(f"unknown headings {headings!r}: one of {HEADINGS}")
    number_sections = headings == "numbered" and mode == "i2r"
    rng = random.Random(row_seed)
    if shots > len(pool):
        raise ValueError(f"{shots} shots asked but the pool has {len(pool)} examples")
    examples = rng.sample(list(pool), shots)
    prop = sample_property(rng) if mode == "c2i" else None
    blocks = [f"{SYSTEM[mode]} {NUMBERED_I2R_NOTE}" if number_sections else SYSTEM[mode]]
    for number, example in enumerate(examples, 1):
        body = "\n\n".join(_render(mode, example))
        body = _numbered(body, number) if number_sections else body
        blocks.append(f"{EXAMPLE_HEADER} {number}\n\n" + body)
    query = _query(mode, row, prop)
    last = len(examples) + 1
    query_text = "\n\n".join(query[:-1] + [""]) + query[-1]
    if number_sections:
        query_text = _numbered(query_text, last)
    blocks.append(f"{EXAMPLE_HEADER} {last}\n\n" + query_text)
    return Prompt("\n\n".join(blocks), tuple(e.id for e in examples), prop)


def stop_after(mode: str) -> tuple[str, ...]:
    """Patterns a completion ends after: an I->R answer is complete once its tests block closes
    (without this, a model that goes on writing runs to the token limit and is discarded). The
    tests heading may carry an example number."""
    if mode == "i2r":
        return (r"^###[ \t]*Tests(?:[ \t]+\d+)?[ \t]*\n\s*```[^\n]*\n[\s\S]*?```",)
    return ()


def stop_strings(mode: str) -> tuple[str, ...]:
    """Where a completion ends: the next example, or (except for I->R) the next section."""
    if mode == "i2r":
        return (f"\n{EXAMPLE_HEADER}",)
    return (f"\n{EXAMPLE_HEADER}", f"\n{SECTION}")
