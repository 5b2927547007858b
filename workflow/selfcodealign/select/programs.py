"""From a response and its tests to one program, after a format check with named reasons."""

from __future__ import annotations

import ast
import re

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


def build_program(response: str, tests: str) -> str:
    """All python blocks of the response, then the tests, as one program."""
    return "\n\n".join([*code_blocks(response), tests.strip("\n")]) + "\n"


def plain_asserts(tests: str, max_lines: int) -> list[str] | None:
    """The tests' lines if they are only a few single-line asserts, else ``None``."""
    lines = [line for line in tests.strip().splitlines() if line.strip()]
    if not lines or len(lines) > max_lines:
        return None
    try:
        body = ast.parse(tests).body
    except SyntaxError:
        return None
    if len(body) != len(lines) or not all(isinstance(node, ast.Assert) for node in body):
        return None
    return lines


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


def defined_names(response: str) -> frozenset[str]:
    """Normalised names of the top-level functions and classes the response defines."""
    names = set()
    for block in code_blocks(response):
        try:
            module = ast.parse(block)
        except SyntaxError:
            continue
        for node in module.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name.lower().strip("_"))
    return frozenset(names)
