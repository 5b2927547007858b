"""Static filters on extracted functions, in the paper's order, each with a counted reason.

A function is rejected by the first filter it fails, so the reasons in the funnel add up to the
number removed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from selfcodealign.funnel import StepCounts
from selfcodealign.seeds.decontamination import SubstringMatcher


def _own_scope(function: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``function``'s body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def returns_value(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when the function itself has a ``return <value>`` (``return None`` counts)."""
    return any(isinstance(n, ast.Return) and n.value is not None for n in _own_scope(function))


def has_arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = function.args
    return bool(args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg)


def used_modules(function: ast.AST) -> set[str]:
    """Top-level module names a function imports or refers to (``os`` in ``os.path.join``)."""
    modules = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
        elif isinstance(node, ast.Name):
            modules.add(node.id)
    return modules


class StaticFilter:
    """The paper's static filters, configured by ``seeds.filters`` settings."""

    def __init__(self, settings: dict[str, Any], benchmark_texts: Iterable[str] = ()):
        self.max_lines = settings["max_lines"]
        words = [re.escape(word.lower()) for word in settings["banned_words"]]
        self._banned_words = re.compile("|".join(words)) if words else None
        self.banned_imports = frozenset(settings["banned_imports"])
        self.require_return_value = settings["require_return_value"]
        self.require_arguments = settings["require_arguments"]
        self._benchmarks = SubstringMatcher(benchmark_texts)
        # Order matters: the first failing check names the reason.
        self.checks: list[tuple[str, Callable[[str, ast.FunctionDef], bool]]] = [
            ("no_return_value", lambda _t, f: not self.require_return_value or returns_value(f)),
            ("no_arguments", lambda _t, f: not self.require_arguments or has_arguments(f)),
            ("too_long", lambda t, _f: len(t.splitlines()) <= self.max_lines),
            ("banned_word", lambda t, _f: not self._has_banned_word(t)),
            ("banned_import", lambda _t, f: not (used_modules(f) & self.banned_imports)),
            ("benchmark_contamination", lambda t, _f: self._benchmarks.first_match(t) is None),
        ]

    def _has_banned_word(self, text: str) -> bool:
        return bool(self._banned_words and self._banned_words.search(text.lower()))

    def rejection(self, text: str) -> str | None:
        """The reason ``text`` (one function) is rejected, or ``None`` when it passes."""
        try:
            module = ast.parse(text)
        except (SyntaxError, ValueError):
            return "unparsable_function"
        function = module.body[0] if module.body else None
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            return "not_a_function"
        for reason, passes in self.checks:
            if not passes(text, function):
                return reason
        return None

    def apply(self, records: Iterable[dict], counts: StepCounts) -> Iterator[dict]:
        for record in records:
            reason = self.rejection(record["seed"])
            if reason is None:
                counts.keep()
                yield record
            else:
                counts.drop(reason)
