"""Few-shot pool, prompt construction and parsing of odd model output."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter

import pytest
from selfcodealign.generation.base import truncate_at_stop
from selfcodealign.instruct.parse import (
    Rejected,
    parse_concepts,
    parse_instruction,
    parse_response,
)
from selfcodealign.instruct.pool import CATEGORIES, load_pool
from selfcodealign.instruct.prompts import EXAMPLE_HEADER, build_prompt, stop_after, stop_strings
from selfcodealign.select.programs import shown_tests

POOL = load_pool()


def test_pool_has_21_complete_examples_in_the_papers_mix():
    assert len(POOL) == 21 and len({e.id for e in POOL}) == 21
    categories = Counter(e.category for e in POOL)
    assert set(categories) == set(CATEGORIES)
    # the reference pool's mix: categories, difficulties, and 6 tests of plain asserts only
    assert [categories[c] for c in CATEGORIES] == [15, 2, 4]
    difficulties = Counter(e.difficulty for e in POOL)
    assert [difficulties[d] for d in ("easy", "medium", "hard")] == [9, 11, 1]
    plain = [e.id for e in POOL if shown_tests(e.tests, 10**6, random.Random(0)).kind != "test"]
    assert len(plain) == 6, plain
    for example in POOL:
        assert example.code.startswith("def ") and '"""' in example.code
        assert example.concepts and example.instruction
        assert "```python" in example.response and "assert" in example.tests


@pytest.mark.parametrize("example", POOL, ids=[e.id for e in POOL])
def test_every_pool_example_passes_its_own_tests(example):
    [solution] = [b for b in example.response.split("```")[1::2]]
    program = solution.removeprefix("python\n") + "\n\n" + example.tests + "\n"
    run = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    # and the tests really test: the same tests without the solution fail
    bare = subprocess.run(
        [sys.executable, "-I", "-c", example.tests], capture_output=True, timeout=30
    )
    assert bare.returncode != 0


SEED_ROW = {"seed": 'def f(x):\n    """Double."""\n    return 2 * x\n'}


@pytest.mark.parametrize(
    ("mode", "row", "shots"),
    [
        ("s2c", SEED_ROW, 8),
        ("c2i", {"concepts": ["recursion", "memoization"]}, 8),
        ("s2i", SEED_ROW, 8),
        ("i2r", {"instruction": "Write `inc(x)` returning x + 1."}, 1),
    ],
)
def test_prompts_are_byte_identical_per_row_and_differ_across_rows(mode, row, shots):
    first = build_prompt(mode, row, POOL, shots, row_seed=3407 + 5)
    again = build_prompt(mode, row, POOL, shots, row_seed=3407 + 5)
    assert first == again
    assert first.text.count(f"{EXAMPLE_HEADER} ") == shots + 1
    assert len(set(first.example_ids)) == shots  # drawn without replacement
    others = {build_prompt(mode, row, POOL, shots, 3407 + i).example_ids for i in range(30)}
    assert len(others) > 10


def test_prompt_endings_are_what_the_model_completes():
    assert build_prompt("s2c", SEED_ROW, POOL, 8, 1).text.endswith("```\n\n### Concepts\n")
    c2i = build_prompt("c2i", {"concepts": ["a", "b"]}, POOL, 8, 1)
    assert c2i.text.endswith("concepts: a, b\n\n### Instruction\n")
    s2i = build_prompt("s2i", SEED_ROW, POOL, 8, 1)
    assert s2i.text.endswith("return 2 * x\n```\n\n### Instruction\n")
    assert s2i.property is None and "### Property" not in s2i.text  # as in the paper's ablation
    i2r = build_prompt("i2r", {"instruction": "Do it."}, POOL, 1, 1)
    assert i2r.text.endswith("### Instruction\nDo it.\n\n### Response\n")
    assert stop_strings("i2r") == ("\n## Example",)
    assert "\n### " in stop_strings("s2c")


def test_property_sampling_follows_the_paper():
    props = [build_prompt("c2i", {"concepts": ["x"]}, POOL, 1, s).property for s in range(4000)]
    categories = Counter(p.category for p in props)
    assert abs(categories["function implementation"] / 4000 - 0.5) < 0.03
    assert abs(categories["class implementation"] / 4000 - 0.25) < 0.03
    difficulties = Counter(p.difficulty for p in props)
    assert all(abs(n / 4000 - 1 / 3) < 0.03 for n in difficulties.values())
    # the property is part of the prompt the model sees
    prompt = build_prompt("c2i", {"concepts": ["x"]}, POOL, 1, 7)
    assert f"category: {prompt.property.category}\n" in prompt.text


def test_concepts_parsing():
    assert parse_concepts(" recursion, memoization,recursion\n- hashing.") == [
        "recursion",
        "memoization",
        "hashing",
    ]
    with pytest.raises(Rejected, match="empty_concepts"):
        parse_concepts(" ,\n ")
    with pytest.raises(Rejected, match="empty_instruction"):
        parse_instruction("   \n")


CODE = "```python\ndef inc(x):\n    return x + 1\n```\n"
TESTS = "### Tests\n```python\nassert inc(1) == 2\n```\n"
GOOD = f"Use a loop.\n\n{CODE}\n{TESTS}"
OPEN_CODE = "```python\ndef inc(x):\n    return x + 1\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"Use a loop.\n{CODE}", "no_tests_section"),
        (f"Just words.\n\n{TESTS}", "no_code_in_response"),
        (f"Words.\n{OPEN_CODE}\n{TESTS}", "unclosed_fence_in_response"),
        (f"Words.\n{CODE}### Tests\nassert inc(1) == 2\n", "no_code_in_tests"),
        (f"Words.\n{CODE}### Tests\n```python\nassert inc(1) == 2\n", "unclosed_fence_in_tests"),
    ],
)
def test_odd_responses_are_named_rejections(text, reason):
    with pytest.raises(Rejected) as rejection:
        parse_response(text)
    assert rejection.value.reason == reason


def test_response_parsing_keeps_the_first_tests_block_only():
    parsed = parse_response(GOOD + "\nSome chatter.\n```python\nprint('extra')\n```\n")
    assert parsed.tests == "assert inc(1) == 2"
    assert parsed.response.startswith("Use a loop.") and parsed.response.endswith("```")
    assert "### Tests" not in parsed.response


def test_numbered_headings_number_each_examples_sections():
    row = {"instruction": "Write `inc(x)` returning x + 1."}
    plain = build_prompt("i2r", row, POOL, 2, 11)
    numbered = build_prompt("i2r", row, POOL, 2, 11, headings="numbered")
    assert numbered.example_ids == plain.example_ids
    for number in (1, 2):
        for section in ("Instruction", "Response", "Tests"):
            assert f"\n### {section} {number}\n" in numbered.text
    assert numbered.text.endswith(
        "### Instruction 3\nWrite `inc(x)` returning x + 1.\n\n### Response 3\n"
    )
    assert "### Tests\n" not in numbered.text and "both a Response section" in numbered.text
    # other modes are never numbered
    assert build_prompt("s2c", SEED_ROW, POOL, 2, 11, headings="numbered") == build_prompt(
        "s2c", SEED_ROW, POOL, 2, 11
    )
    with pytest.raises(ValueError, match="unknown headings"):
        build_prompt("i2r", row, POOL, 1, 1, headings="roman")


ANSWER = "Add one.\n\n```python\ndef inc(x):\n    return x + 1\n```\n\n"


def test_numbered_tests_headings_parse_and_stop_the_answer():
    text = ANSWER + "### Tests 3\n```python\nassert inc(1) == 2\n```\nmore prose"
    assert parse_response(text).tests == "assert inc(1) == 2"
    (pattern,) = stop_after("i2r")
    assert truncate_at_stop(text, (), (pattern,))[0].endswith("assert inc(1) == 2\n```")


def test_lenient_parsing_splits_at_a_line_announcing_tests():
    text = (
        ANSWER
        + "We can verify the function with a few checks:\n\n```python\nassert inc(2) == 3\n```"
    )
    with pytest.raises(Rejected, match="no_tests_section"):
        parse_response(text)
    parsed = parse_response(text, lenient=True)
    assert parsed.tests == "assert inc(2) == 3" and parsed.response == ANSWER.strip()
