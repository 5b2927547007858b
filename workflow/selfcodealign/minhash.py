"""MinHash near-duplicate removal with ``datasketch``, streaming and deterministic.

Records are visited in input order; each is kept unless the LSH index already holds a record
whose estimated Jaccard similarity passes the threshold, and only kept records enter the index.
Signatures are computed in worker processes; the index itself is built in one process, so the
result depends only on the input order and the seed. The seed stage and the selection stage
both use this module.
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

_TOKEN = re.compile(r"\w+")
# Pinned so that signatures (and so the kept set) do not change with datasketch defaults.
SCHEME = "affine32"


def shingles(text: str, ngram: int) -> list[bytes]:
    """Word n-grams of ``text``; a text shorter than ``ngram`` words is one shingle."""
    tokens = _TOKEN.findall(text)
    if len(tokens) <= ngram:
        return [" ".join(tokens).encode()]
    return [" ".join(tokens[i : i + ngram]).encode() for i in range(len(tokens) - ngram + 1)]


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


def near_dedup(
    records: Iterable[dict],
    text_of: Callable[[dict], str],
    *,
    threshold: float,
    num_perm: int,
    ngram: int,
    seed: int,
    workers: int = 1,
    on_drop: Callable[[dict], None] = lambda _r: None,
    block_size: int = 4096,
) -> Iterator[dict]:
    """Yield the records that are not near-duplicates of an earlier kept record.

    Records are read in blocks so that memory stays bounded while workers hash in parallel.
    """
    index = NearDuplicateIndex(threshold, num_perm, seed)
    compute = partial(signature, ngram=ngram, num_perm=num_perm, seed=seed)
    pool = Pool(workers) if workers > 1 else None
    try:
        for block in batched(records, block_size):
            texts = [text_of(record) for record in block]
            # map keeps input order, so the result does not depend on scheduling.
            hashes = pool.map(compute, texts, chunksize=64) if pool else map(compute, texts)
            for record, hashvalues in zip(block, hashes, strict=True):
                if index.add_if_new(hashvalues):
                    yield record
                else:
                    on_drop(record)
    finally:
        if pool:
            pool.terminate()
