import random

from selfcodealign.config import validate_section
from selfcodealign.funnel import StepCounts
from selfcodealign.minhash import near_dedup
from selfcodealign.seeds.dedup import dedup_seeds
from selfcodealign.seeds.extract import Function, seed_record

SETTINGS = validate_section({}, "seeds", "dedup")


def _function(name: str, words: list[str]) -> dict:
    body = " + ".join(words)
    text = f'def {name}(x):\n    """Compute {name}."""\n    return {body}\n'
    return seed_record("test", f"{name}.py", Function(name, 1, text))


def _corpus(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    records = []
    for i in range(n):
        words = rng.sample(vocabulary, 40)
        records.append(_function(f"f{i}", words))
        if i % 5 == 0:  # a near copy: one word changed
            copy = list(words)
            copy[7] = "changed"
            records.append(_function(f"f{i}", copy))
        if i % 7 == 0:  # an exact copy
            records.append(dict(records[-1]))
    return records


def test_near_and_exact_duplicates_are_removed_and_counted():
    records = _corpus(200)
    counts = StepCounts("dedup")
    kept = list(dedup_seeds(records, SETTINGS, 3407, counts, workers=1))
    assert len(kept) == 200
    assert counts.removed["exact_duplicate"] == 29  # i % 7 == 0 for i < 200
    assert counts.removed["near_duplicate"] == 40  # i % 5 == 0
    assert counts.input == len(records) and counts.output == len(kept)
    # the first of each group is the one kept
    assert [r["name"] for r in kept] == [f"f{i}" for i in range(200)]


def test_dedup_is_deterministic_across_runs_and_worker_counts():
    records = _corpus(300, seed=1)
    runs = [
        [r["id"] for r in dedup_seeds(records, SETTINGS, 3407, StepCounts("dedup"), workers)]
        for workers in (1, 2, 1)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_threshold_controls_what_counts_as_a_duplicate():
    base = [f"t{i}" for i in range(40)]
    similar = base[:35] + [f"u{i}" for i in range(5)]  # Jaccard of the 5-grams: 31/41
    records = [{"text": " ".join(base)}, {"text": " ".join(similar)}]

    def kept(threshold):
        return list(
            near_dedup(
                records, lambda r: r["text"], threshold=threshold, num_perm=128, ngram=5, seed=1
            )
        )

    assert len(kept(0.5)) == 1
    assert len(kept(0.9)) == 2


def _chain(length: int, step: int) -> list[dict]:
    """Texts where each one differs from the one before by ``step`` swapped words: neighbours
    are near-duplicates, the ends of the chain are not."""
    words = [f"t{i}" for i in range(60)]
    records = []
    for link in range(length):
        records.append({"text": " ".join(words)})
        words = words[step:] + [f"n{link}_{i}" for i in range(step)]
    return records


def test_clusters_join_chains_that_streaming_keeps_apart():
    records = _chain(6, 8)
    settings = {"threshold": 0.5, "num_perm": 256, "ngram": 5, "seed": 1}
    first_to_last = near_dedup(records[::5], lambda r: r["text"], **settings)
    assert len(list(first_to_last)) == 2  # the ends alone are not duplicates
    streamed = list(near_dedup(records, lambda r: r["text"], **settings))
    clustered = list(near_dedup(records, lambda r: r["text"], clusters=True, **settings))
    assert clustered == [records[0]]  # one cluster: only its first record stays
    assert len(streamed) > 1 and streamed[0] == records[0]


def test_tokens_are_lower_cased_and_short_texts_are_dropped():
    records = [
        {"text": "Sort THE list, then return it twice over again"},
        {"text": "sort the list then return it twice over again!"},
        {"text": "Too short here"},
    ]
    short, dropped = [], []
    kept = near_dedup(
        records, lambda r: r["text"], threshold=0.7, num_perm=128, ngram=3, seed=1,
        min_tokens=5, clusters=True, on_drop=dropped.append, on_short=short.append,
    )  # fmt: skip
    assert list(kept) == [records[0]]
    assert dropped == [records[1]] and short == [records[2]]


def test_seed_dedup_counts_short_seeds():
    records = [_function("f0", ["a"]), *_corpus(3)]
    counts = StepCounts("dedup")
    settings = {**SETTINGS, "min_tokens": 12}  # "def f0(x): Compute f0. return a" has 8
    kept = list(dedup_seeds(records, settings, 3407, counts, workers=1))
    assert counts.removed["too_few_tokens"] == 1 and records[0] not in kept
