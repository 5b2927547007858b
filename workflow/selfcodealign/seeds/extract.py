"""Extract top-level functions whose first statement is a triple-quoted docstring.

A file that does not parse as a whole (Python 2, a merge conflict, a truncated file) still gives
the top-level functions that parse on their own. A file that cannot be read or decoded, or gives
nothing, is counted under its reason and skipped: one bad file never stops a shard.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from selfcodealign.funnel import StepCounts
from selfcodealign.seeds.sources import SourceFile

_TRIPLE_QUOTED = re.compile(r"^[rRuUbBfF]{0,2}(\"\"\"|''')")


@dataclass(frozen=True)
class Function:
    name: str
    lineno: int
    text: str


def docstring_node(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Constant | None:
    """The function's docstring (its first statement, a string), if it has one."""
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.value
    return None


def _segment(lines: list[str], node: ast.AST) -> str:
    """Source text of ``node`` from its first line to its last (decorators excluded)."""
    start, end = node.lineno - 1, node.end_lineno
    text = "".join(lines[start:end])
    # A def that shares its first line with other code starts at its column.
    return text[node.col_offset :] if node.col_offset else text


def functions_with_docstrings(
    source: str, require_triple_quotes: bool = True
) -> tuple[list[Function], int]:
    """Top-level functions of ``source`` that open with a docstring, and the count without one.

    Raises ``SyntaxError`` (and ``ValueError`` for null bytes) when ``source`` does not parse.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like
        module = ast.parse(source)
    lines = source.splitlines(keepends=True)
    found, without = [], 0
    for node in module.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = docstring_node(node)
        if doc is None:
            without += 1
            continue
        if require_triple_quotes:
            doc_text = lines[doc.lineno - 1][doc.col_offset :]
            if not _TRIPLE_QUOTED.match(doc_text):
                without += 1
                continue
        found.append(Function(node.name, node.lineno, _segment(lines, node)))
    return found, without


_TOP_LEVEL_DEF = re.compile(r"(?:async[ \t]+)?def[ \t]")


def _top_level_chunks(source: str) -> Iterator[tuple[int, str]]:
    """(first line index, text) of each stretch that starts with a top-level ``def`` and runs
    up to the next line of other top-level code (blank, indented and comment lines belong to
    the function)."""
    lines = source.splitlines(keepends=True)
    for start, line in enumerate(lines):
        if not _TOP_LEVEL_DEF.match(line):
            continue
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
            end += 1
        yield start, "".join(lines[start:end])


def recover_functions(
    source: str, require_triple_quotes: bool = True
) -> tuple[list[Function], int]:
    """The top-level functions of a file that does not parse, each parsed on its own."""
    found, without = [], 0
    for start, chunk in _top_level_chunks(source):
        try:
            functions, missing = functions_with_docstrings(chunk, require_triple_quotes)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        without += missing
        found += [Function(f.name, f.lineno + start, f.text) for f in functions]
    return found, without


def seed_record(source: str, path: str, function: Function) -> dict:
    digest = hashlib.sha1(function.text.encode("utf-8", "surrogatepass")).hexdigest()
    return {
        "id": digest[:16],
        "sha1": digest,
        "source": source,
        "path": path,
        "name": function.name,
        "lineno": function.lineno,
        "seed": function.text,
    }


def extract_records(
    files: Iterator[SourceFile],
    counts: StepCounts,
    require_triple_quotes: bool = True,
    max_file_bytes: int = 1_000_000,
) -> Iterator[dict]:
    """Yield one seed record per extracted function; file-level failures go to ``counts``.

    ``counts.input`` counts files, ``counts.output`` counts functions.
    """
    extra = counts.extra
    for key in (
        "files_parsed",
        "files_recovered",
        "functions_seen",
        "functions_without_docstring",
        "functions_recovered",
    ):
        extra.setdefault(key, 0)
    for file in files:
        counts.input += 1
        if file.data is None:
            counts.removed["unreadable_file"] += 1
            continue
        if len(file.data) > max_file_bytes:
            counts.removed["file_too_large"] += 1
            continue
        try:
            text = file.data.decode("utf-8")
        except UnicodeDecodeError:
            counts.removed["undecodable_file"] += 1
            continue
        try:
            functions, without = functions_with_docstrings(text, require_triple_quotes)
            extra["files_parsed"] += 1
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            functions, without = recover_functions(text, require_triple_quotes)
            if not functions and not without:
                reason = "parser_limit" if isinstance(error, RecursionError | MemoryError) else None
                counts.removed[reason or "syntax_error"] += 1
                continue
            extra["files_recovered"] += 1
            extra["functions_recovered"] += len(functions)
        extra["functions_seen"] += len(functions) + without
        extra["functions_without_docstring"] += without
        for function in functions:
            counts.output += 1
            yield seed_record(file.source, file.path, function)
