"""The paper's seed ablation: random 5-30 line snippets of the source files instead of
filtered functions, as many as there are seeds."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator

from selfcodealign.seeds.sources import SourceFile


def random_snippets(
    files: Iterable[SourceFile], count: int, seed: int, min_lines: int = 5, max_lines: int = 30
) -> Iterator[dict]:
    """One random window of ``min_lines``-``max_lines`` lines per usable file, up to ``count``."""
    made = 0
    for index, file in enumerate(files):
        if made == count:
            return
        if file.data is None:
            continue
        try:
            lines = file.data.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        rng = random.Random(seed + index)
        if len(lines) < min_lines:
            continue
        length = rng.randint(min_lines, min(max_lines, len(lines)))
        start = rng.randrange(len(lines) - length + 1)
        text = "\n".join(lines[start : start + length]) + "\n"
        if not text.strip():
            continue
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        made += 1
        yield {
            "id": digest[:16],
            "sha1": digest,
            "source": file.source,
            "path": file.path,
            "lineno": start + 1,
            "seed": text,
        }
