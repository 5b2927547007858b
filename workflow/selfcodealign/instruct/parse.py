"""Turn raw completions into fields, or into a named rejection reason that gets counted."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = "```"
_CODE_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)
# The tests heading, numbered or not ("### Tests", "### Tests 3").
_TESTS_HEADER = re.compile(r"^###[ \t]*Tests(?:[ \t]+\d+)?[ \t]*$", re.M | re.I)
# Lenient parsing: a line that starts to say the solution is tested next.
_TESTS_LEAD = re.compile(
    r"^(?:to|we can|you can|let's|now,? (?:we|let's))\b[^\n]*?\b(?:test|verify|check)", re.M | re.I
)


class Rejected(ValueError):
    """A completion that cannot be used; ``reason`` names why in the funnel."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_concepts(text: str) -> list[str]:
    concepts: list[str] = []
    for item in text.replace("\n", ",").split(","):
        concept = item.strip(" \t-*.;")
        if concept and concept.lower() not in (c.lower() for c in concepts):
            concepts.append(concept)
    if not concepts:
        raise Rejected("empty_concepts")
    return concepts


def parse_instruction(text: str) -> str:
    instruction = text.strip()
    if not instruction:
        raise Rejected("empty_instruction")
    return instruction


def code_blocks(text: str) -> list[str]:
    return [block.strip("\n") for block in _CODE_BLOCK.findall(text)]


@dataclass(frozen=True)
class ParsedResponse:
    response: str  # reasoning and the fenced solution, as the model wrote them
    tests: str  # the code of the tests block, unfenced


def parse_response(text: str, lenient: bool = False) -> ParsedResponse:
    """Split an I->R completion into the response and its tests block. ``lenient`` also takes,
    when there is no tests heading, a line that announces tests (``We can verify ...``) as the
    split (the reference's handling of its Llama-3 data)."""
    header = _TESTS_HEADER.search(text) or (_TESTS_LEAD.search(text) if lenient else None)
    if header is None:
        raise Rejected("no_tests_section")
    response, after = text[: header.start()].strip(), text[header.end() :]
    if not code_blocks(response):
        raise Rejected("unclosed_fence_in_response" if FENCE in response else "no_code_in_response")
    tests = code_blocks(after)
    if not tests:
        raise Rejected("unclosed_fence_in_tests" if FENCE in after else "no_code_in_tests")
    # Anything after the first tests block (more prose, another example) is not part of it.
    return ParsedResponse(response, tests[0])
