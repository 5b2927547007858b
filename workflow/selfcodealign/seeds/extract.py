"""Extract top-level functions whose first statement is a triple-quoted docstring.

A file that cannot be read, decoded or parsed is counted under its reason and skipped: one bad
file never stops a shard.
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


def _docstring_node(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Constant | None:
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
        doc = _docstring_node(node)
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
    for key in ("files_parsed", "functions_seen", "functions_without_docstring"):
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
        except (SyntaxError, ValueError):
            counts.removed["syntax_error"] += 1
            continue
        except (RecursionError, MemoryError):
            counts.removed["parser_limit"] += 1
            continue
        extra["files_parsed"] += 1
        extra["functions_seen"] += len(functions) + without
        extra["functions_without_docstring"] += without
        for function in functions:
            counts.output += 1
            yield seed_record(file.source, file.path, function)
