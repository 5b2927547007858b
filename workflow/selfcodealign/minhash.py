"""MinHash near-duplicate removal with ``datasketch``, deterministic.

Texts are lower-cased and split on non-word characters; texts with fewer than ``min_tokens``
tokens are dropped (a signature of a handful of tokens says little). Two ways to decide what is
a duplicate, both independent of scheduling:

* clusters (the reference implementation's): records whose signatures share an LSH band are
  joined into clusters (union-find, so A~B and B~C put A, B and C together), and only the first
  record of each cluster is kept;
* streaming: records are visited in input order, and one is kept unless the index already holds
  a kept record that shares a band with it; memory stays bounded.

Signatures are computed in worker processes. The seed stage and the selection stage both use
this module.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache, partial
from multiprocessing import Pool

import numpy as np
from datasketch import MinHash, MinHashLSH

from selfcodealign.jsonl import batched

_NON_WORD = re.compile(r"\W+")
# Pinned so that signatures (and so the kept set) do not change with datasketch defaults.
SCHEME = "affine32"


def tokens(text: str) -> list[str]:
    return [token for token in _NON_WORD.split(text.lower()) if token]


def shingles(text: str, ngram: int) -> list[bytes]:
    """Word n-grams of ``text``; a text shorter than ``ngram`` words is one shingle."""
    tokens_ = tokens(text)
    if len(tokens_) <= ngram:
        return [" ".join(tokens_).encode()]
    return [" ".join(tokens_[i : i + ngram]).encode() for i in range(len(tokens_) - ngram + 1)]


@cache
def _permutations(num_perm: int, seed: int):
    """The hash permutations of a (num_perm, seed) pair, built once per process.

    datasketch rebuilds them for every MinHash otherwise, which costs more than hashing a
    typical function.
    """
    return MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations


def _minhash(num_perm: int, seed: int, hashvalues: np.ndarray | None = None) -> MinHash:
    return MinHash(
        num_perm=num_perm,
        seed=seed,
        scheme=SCHEME,
        hashvalues=hashvalues,
        permutations=_permutations(num_perm, seed),
    )


def signature(text: str, ngram: int, num_perm: int, seed: int) -> np.ndarray:
    minhash = _minhash(num_perm, seed)
    minhash.update_batch(shingles(text, ngram))
    return minhash.hashvalues


def _band_hash(band: bytes) -> bytes:
    """Shrink each LSH band key to 8 bytes: the index then costs a fixed size per record."""
    return hashlib.blake2b(band, digest_size=8).digest()


class NearDuplicateIndex:
    """An LSH index that answers "is this a near-duplicate of anything kept so far?"."""

    def __init__(self, threshold: float, num_perm: int, seed: int):
        self.num_perm = num_perm
        self.seed = seed
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, hashfunc=_band_hash)
        self._size = 0

    def add_if_new(self, hashvalues: np.ndarray) -> bool:
        minhash = _minhash(self.num_perm, self.seed, hashvalues)
        if self._lsh.query(minhash):
            return False
        self._lsh.insert(self._size, minhash, check_duplication=False)
        self._size += 1
        return True


class _Clusters:
    """Union-find over record numbers; a cluster's root is its earliest record."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        a, b = self.find(x), self.find(y)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def near_dedup(
    records: Iterable[dict],
    text_of: Callable[[dict], str],
    *,
    threshold: float,
    num_perm: int,
    ngram: int,
    seed: int,
    workers: int = 1,
    min_tokens: int = 0,
    clusters: bool = False,
    on_drop: Callable[[dict], None] = lambda _r: None,
    on_short: Callable[[dict], None] | None = None,
    block_size: int = 4096,
) -> Iterator[dict]:
    """Yield the records that are kept, in input order (see the module's docstring).

    Records are read in blocks so that workers hash in parallel; in streaming mode memory stays
    bounded, with clusters every signature is held until the end. Records with fewer than
    ``min_tokens`` tokens go to ``on_short`` (``on_drop`` when it is not given).
    """
    on_short = on_short or on_drop
    compute = partial(signature, ngram=ngram, num_perm=num_perm, seed=seed)
    pool = Pool(workers) if workers > 1 else None

    def signed() -> Iterator[tuple[dict, np.ndarray]]:
        for block in batched(records, block_size):
            long_enough, texts = [], []
            for record in block:
                text = text_of(record)
                if min_tokens and len(tokens(text)) < min_tokens:
                    on_short(record)
                else:
                    long_enough.append(record)
                    texts.append(text)
            # map keeps input order, so the result does not depend on scheduling.
            hashes = pool.map(compute, texts, chunksize=64) if pool else map(compute, texts)
            yield from zip(long_enough, hashes, strict=True)

    try:
        if clusters:
            yield from _first_of_each_cluster(signed(), threshold, num_perm, seed, on_drop)
            return
        index = NearDuplicateIndex(threshold, num_perm, seed)
        for record, hashvalues in signed():
            if index.add_if_new(hashvalues):
                yield record
            else:
                on_drop(record)
    finally:
        if pool:
            pool.terminate()


def _first_of_each_cluster(
    signed: Iterable[tuple[dict, np.ndarray]],
    threshold: float,
    num_perm: int,
    seed: int,
    on_drop: Callable[[dict], None],
) -> Iterator[dict]:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, hashfunc=_band_hash)
    found = _Clusters()
    records_in_order = []
    for record, hashvalues in signed:
        number = found.add()
        minhash = _minhash(num_perm, seed, hashvalues)
        for other in lsh.query(minhash):
            found.union(number, other)
        lsh.insert(number, minhash, check_duplication=False)
        records_in_order.append(record)
    for number, record in enumerate(records_in_order):
        if found.find(number) == number:
            yield record
        else:
            on_drop(record)
