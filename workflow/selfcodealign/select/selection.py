"""Select training pairs from executed samples, step by step, each step counted.

Steps (SPEC "Execution and selection"): format check, the execution filter (passes only, or a
Table 9 ablation), one random sample per instruction, exact dedup, instruction length,
function-name diversity, optional benchmark decontamination, test augmentation of the
instruction, then MinHash dedup of instruction, response and code skeleton. The "random
subset" ablation then draws, seeded, as many pairs as another dataset holds (the passes-only
dataset of the same generation), so that only the execution filter differs between the two.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from selfcodealign.funnel import StepCounts
from selfcodealign.minhash import near_dedup
from selfcodealign.seeds.decontamination import SubstringMatcher
from selfcodealign.select.programs import code_skeleton, defined_names, shown_tests

# Shown tests are introduced in the number they come in.
AUGMENT_HEADERS = {
    "assertion": "The solution must satisfy this assertion:",
    "assertions": "The solution must satisfy these assertions:",
    "test": "The solution must pass this test:",
}
# An instruction that already speaks of tests or examples gets none appended.
_MENTIONS_TESTS = ("assert", "test", "for example")
MODES = ("passes_only", "failures_only", "random_selection", "random_subset")

log = logging.getLogger(__name__)


def _filter(
    rows: Iterable[dict], counts: StepCounts, reason_of: Callable[[dict], str | None]
) -> Iterator[dict]:
    for row in rows:
        reason = reason_of(row)
        if reason is None:
            counts.keep()
            yield row
        else:
            counts.drop(reason)


def _execution_reason(mode: str) -> Callable[[dict], str | None]:
    if mode == "passes_only":
        return lambda r: None if r["passed"] else r["status"]
    if mode == "failures_only":
        return lambda r: "passed" if r["passed"] else None
    if mode in ("random_selection", "random_subset"):
        return lambda r: None
    raise ValueError(f"unknown selection mode {mode!r}")


def _counting_main_cuts(rows: Iterable[dict], counts: StepCounts) -> Iterator[dict]:
    """Count the executed programs whose input-reading main block was cut."""
    counts.extra["input_main_cut"] = 0
    for row in rows:
        counts.extra["input_main_cut"] += bool(row.get("input_main_cut"))
        yield row


def _one_per_instruction(rows: Iterable[dict], counts: StepCounts, seed: int) -> Iterator[dict]:
    # Samples of one instruction are consecutive (responses are written in row order).
    for instruction_id, group in itertools.groupby(rows, key=lambda r: r["instruction_id"]):
        group = list(group)
        chosen = random.Random(f"{seed}:{instruction_id}").choice(group)
        for row in group:
            if row is chosen:
                counts.keep()
                yield row
            else:
                counts.drop("other_sample_of_instruction")


def _unique(keys: Callable[[dict], dict[str, Any]]) -> Callable[[dict], str | None]:
    """A reason function that names the first field whose value was seen before."""
    seen: dict[str, set] = {}

    def reason(row: dict) -> str | None:
        values = keys(row)
        for name, value in values.items():
            if value in seen.setdefault(name, set()):
                return name
        for name, value in values.items():
            seen[name].add(value)
        return None

    return reason


def _names_reason() -> Callable[[dict], str | None]:
    """Drop a row whose first code block does not parse, or whose set of function names (or of
    class names) is one an earlier row had."""
    seen_functions: set[frozenset[str]] = set()
    seen_classes: set[frozenset[str]] = set()

    def reason(row: dict) -> str | None:
        names = defined_names(row["response"])
        if names is None:
            return "code_does_not_parse"
        if names.functions and names.functions in seen_functions:
            return "repeated_function_names"
        if names.classes and names.classes in seen_classes:
            return "repeated_class_names"
        seen_functions.add(names.functions)
        seen_classes.add(names.classes)
        return None

    return reason


def _near_dedup(
    rows: Iterable[dict], counts: StepCounts, text_of, reason: str, settings: dict, seed: int
) -> Iterator[dict]:
    kept = near_dedup(
        rows,
        text_of,
        threshold=settings["threshold"],
        num_perm=settings["num_perm"],
        ngram=settings["ngram"],
        seed=seed,
        min_tokens=settings["min_tokens"],
        clusters=settings["clusters"],
        on_drop=lambda _row: counts.drop(reason),
        on_short=lambda _row: counts.drop("too_few_tokens"),
    )
    for row in kept:
        counts.keep()
        yield row


def augment(row: dict, settings: dict, seed: int) -> dict:
    """With some probability, show some of the tests in the instruction."""
    rng = random.Random(f"{seed}:augment:{row['id']}")
    shown = shown_tests(row["tests"], settings["augment_max_asserts"], rng)
    mentions = any(word in row["instruction"].lower() for word in _MENTIONS_TESTS)
    if shown is None or mentions or rng.random() >= settings["augment_probability"]:
        return {**row, "augmented": False}
    header = AUGMENT_HEADERS[shown.kind]
    instruction = f"{row['instruction']}\n\n{header}\n```python\n{shown.code}\n```"
    return {**row, "instruction": instruction, "augmented": True}


def _augmented(
    rows: Iterable[dict], counts: StepCounts, settings: dict, seed: int
) -> Iterator[dict]:
    counts.extra["augmented"] = 0
    for row in rows:
        row = augment(row, settings, seed)
        counts.extra["augmented"] += row["augmented"]
        yield row


def subsample(rows: Iterable[dict], target: int, seed: int, counts: StepCounts) -> Iterator[dict]:
    """A seeded random ``target`` of ``rows`` in their original order (all when fewer)."""
    rows = list(rows)
    counts.extra["target"] = target
    if len(rows) < target:
        log.warning(
            "subsample: only %d rows remain, fewer than the target %d; keeping them all",
            len(rows),
            target,
        )
    rng = random.Random(f"{seed}:subsample")
    chosen = set(rng.sample(range(len(rows)), min(target, len(rows))))
    for index, row in enumerate(rows):
        if index in chosen:
            counts.keep()
            yield row
        else:
            counts.drop("subsample")


def select(
    samples: Iterable[dict],
    settings: dict[str, Any],
    seed: int,
    benchmark_texts: Iterable[str] = (),
    target_size: int | None = None,
) -> tuple[Iterator[dict], list[StepCounts]]:
    """The selected rows (lazily) and the counts of every step, in order.

    ``target_size`` is the size of the dataset that mode ``random_subset`` matches; the last
    step, ``subsample``, then draws that many of the selected rows.
    """
    subset = settings["mode"] == "random_subset"
    if subset != (target_size is not None):
        raise ValueError("a target size is given with, and only with, mode random_subset")
    if target_size is not None and target_size < 0:
        raise ValueError(f"target size {target_size} is negative")
    steps = {
        name: StepCounts(name)
        for name in (
            "format_check",
            "execution",
            "one_per_instruction",
            "exact_dedup",
            "instruction_length",
            "name_diversity",
            "decontamination",
            "minhash_instruction",
            "minhash_response",
            "minhash_skeleton",
            *(("subsample",) if subset else ()),
        )
    }
    steps["execution"].extra["mode"] = settings["mode"]
    rows: Iterable[dict] = _filter(
        samples,
        steps["format_check"],
        lambda r: (
            r["status"].removeprefix("format:") if r["status"].startswith("format:") else None
        ),
    )
    rows = _filter(
        _counting_main_cuts(rows, steps["execution"]),
        steps["execution"],
        _execution_reason(settings["mode"]),
    )
    rows = _one_per_instruction(rows, steps["one_per_instruction"], seed)
    rows = _filter(
        rows,
        steps["exact_dedup"],
        _unique(
            lambda r: {
                "duplicate_instruction": r["instruction"],
                "duplicate_response": r["response"],
            }
        ),
    )
    limit = settings["max_instruction_words"]
    rows = _filter(
        rows,
        steps["instruction_length"],
        lambda r: "instruction_too_long" if len(r["instruction"].split()) > limit else None,
    )
    rows = _filter(rows, steps["name_diversity"], _names_reason())
    matcher = SubstringMatcher(benchmark_texts if settings["decontaminate"] else ())
    rows = _filter(
        rows,
        steps["decontamination"],
        lambda r: (
            "benchmark_contamination"
            if matcher.first_match(r["instruction"] + "\n" + r["response"])
            else None
        ),
    )
    # Before MinHash, as in the reference: the shown tests are part of the instruction compared.
    rows = _augmented(rows, steps["decontamination"], settings, seed)
    minhash = settings["minhash"]
    rows = _near_dedup(
        rows,
        steps["minhash_instruction"],
        lambda r: r["instruction"],
        "near_duplicate_instruction",
        minhash,
        seed,
    )
    rows = _near_dedup(
        rows,
        steps["minhash_response"],
        lambda r: r["response"],
        "near_duplicate_response",
        minhash,
        seed,
    )
    rows = _near_dedup(
        rows,
        steps["minhash_skeleton"],
        lambda r: code_skeleton(r["response"]) or r["response"],
        "near_duplicate_skeleton",
        minhash,
        seed,
    )

    if subset:
        rows = subsample(rows, target_size, seed, steps["subsample"])
    return rows, list(steps.values())


def pass_fractions(executions: Iterable[dict]) -> dict[str, dict[str, Any]]:
    """Per instruction: samples, passes, pass fraction and status counts."""
    stats: dict[str, dict[str, Any]] = {}
    for row in executions:
        entry = stats.setdefault(
            row["instruction_id"], {"samples": 0, "passed": 0, "statuses": Counter()}
        )
        entry["samples"] += 1
        entry["passed"] += row["passed"]
        entry["statuses"][row["status"]] += 1
    for entry in stats.values():
        entry["pass_fraction"] = round(entry["passed"] / entry["samples"], 4)
        entry["statuses"] = dict(entry["statuses"])
    return stats
