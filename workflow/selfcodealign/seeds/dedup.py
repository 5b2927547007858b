"""Seed deduplication: exact (by content hash) then near-duplicate (MinHash LSH)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from selfcodealign.funnel import StepCounts
from selfcodealign.minhash import near_dedup


def dedup_seeds(
    records: Iterable[dict], settings: dict[str, Any], seed: int, counts: StepCounts, workers: int
) -> Iterator[dict]:
    seen: set[bytes] = set()

    def unique(rows: Iterable[dict]) -> Iterator[dict]:
        for record in rows:
            digest = bytes.fromhex(record["sha1"])
            if digest in seen:
                counts.drop("exact_duplicate")
                continue
            seen.add(digest)
            yield record

    kept = near_dedup(
        unique(records),
        lambda record: record["seed"],
        threshold=settings["threshold"],
        num_perm=settings["num_perm"],
        ngram=settings["ngram"],
        seed=seed,
        workers=workers,
        min_tokens=settings["min_tokens"],
        clusters=settings["clusters"],
        on_drop=lambda _record: counts.drop("near_duplicate"),
        on_short=lambda _record: counts.drop("too_few_tokens"),
    )
    for record in kept:
        counts.keep()
        yield record
