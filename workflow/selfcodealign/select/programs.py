"""From a response and its tests to one program, after a format check with named reasons."""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

from selfcodealign.instruct.parse import code_blocks

_PLACEHOLDERS = re.compile(r"\btodo\b|\bfixme\b|your code here|notimplemented", re.I)


def format_problem(response: str, tests: str) -> str | None:
    """Why this sample cannot be a training example, or ``None`` when its format is fine."""
    if not response.strip() or not tests.strip():
        return "missing_response_or_tests"
    if not code_blocks(response):
        return "no_code_in_response"
    if "assert" not in tests:
        return "tests_without_assert"
    try:
        body = ast.parse(tests).body
    except SyntaxError:
        return "tests_do_not_parse"
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    if all(isinstance(node, definitions) for node in body):
        return "tests_only_define"
    if _PLACEHOLDERS.search(response) or _PLACEHOLDERS.search(tests):
        return "placeholder_text"
    return None


# A top-level main guard, in either quote style.
_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*(['"])__main__\1\s*:""", re.M)


def cut_input_main(block: str) -> tuple[str, bool]:
    """The block without its main guard and all after it, when the block mentions ``input``
    anywhere (the reference implementation's test: such a block would wait on stdin, which
    the sandbox closes); whether it was cut."""
    guard = _MAIN_GUARD.search(block) if "input" in block else None
    if guard is None:
        return block, False
    return block[: guard.start()].rstrip(), True


def build_program(response: str, tests: str, cut_main: bool = True) -> tuple[str, bool]:
    """All python blocks of the response, then the tests, as one program; whether a main
    block that reads input was cut (``cut_main``) from any of the blocks."""
    blocks, cut = code_blocks(response), False
    if cut_main:
        results = [cut_input_main(block) for block in blocks]
        blocks, cut = [b for b, _ in results], any(c for _, c in results)
    return "\n\n".join([*blocks, tests.strip("\n")]) + "\n", cut


@dataclass(frozen=True)
class ShownTests:
    code: str
    kind: str  # "assertion", "assertions" or "test"


def shown_tests(tests: str, max_asserts: int, rng: random.Random) -> ShownTests | None:
    """What of the tests an instruction may show: when every line is an assert, a random 1 to
    ``max_asserts`` of them; otherwise the whole tests, if they hold an assert and are at most
    ``max_asserts`` lines long (the reference implementation's rule, with its 5)."""
    lines = [line for line in tests.strip("\n").splitlines() if line.strip()]
    if lines and all(line.startswith("assert") for line in lines):
        k = min(rng.randint(1, max_asserts), len(lines))
        chosen = rng.sample(lines, k)
        return ShownTests("\n".join(chosen), "assertion" if k == 1 else "assertions")
    if "assert" in tests and 0 < len(lines) <= max_asserts:
        return ShownTests(tests.strip("\n"), "test")
    return None


def code_skeleton(response: str) -> str:
    """Top-level definitions of the response's code without docstrings (for MinHash dedup)."""
    parts = []
    for block in code_blocks(response):
        try:
            module = ast.parse(block)
        except SyntaxError:
            parts.append(block)
            continue
        for node in ast.walk(module):
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
                and isinstance(node.body[0].value.value, str)
            ):
                node.body = node.body[1:] or [ast.Pass()]
        parts.extend(
            ast.unparse(node)
            for node in module.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        )
    return "\n\n".join(parts)


@dataclass(frozen=True)
class DefinedNames:
    functions: frozenset[str]  # every function and method, nested ones included
    classes: frozenset[str]


def defined_names(response: str) -> DefinedNames | None:
    """Names defined anywhere in the response's first code block, lower-cased and without any
    ``_`` (so ``is_even`` and ``isEven`` are one name); ``None`` when that block does not
    parse."""
    blocks = code_blocks(response)
    try:
        module = ast.parse(blocks[0] if blocks else "")
    except SyntaxError:
        return None
    functions, classes = set(), set()
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.add(node.name.replace("_", "").lower())
        elif isinstance(node, ast.ClassDef):
            classes.add(node.name.replace("_", "").lower())
    return DefinedNames(frozenset(functions), frozenset(classes))
