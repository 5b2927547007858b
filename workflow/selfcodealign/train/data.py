"""sft.jsonl (instruction, response) rows to token rows with the response-only label mask."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field

from selfcodealign.jsonl import read_jsonl
from selfcodealign.train.prompt import tokenize_example

log = logging.getLogger(__name__)


@dataclass
class TokenRows:
    rows: list[dict[str, list[int]]]
    read: int = 0
    dropped: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        return {"read": self.read, "used": len(self.rows), "dropped": dict(self.dropped)}


def load_token_rows(path: str | os.PathLike, tokenizer, max_length: int) -> TokenRows:
    """Tokenized rows; a row longer than ``max_length`` is dropped and counted, not truncated.

    A truncated row loses its EOS and teaches the model to run on; the count says how many.
    Few or no usable rows are no error here: the caller weighs them against ``min_pairs``
    (``selfcodealign.train.skip``).
    """
    result = TokenRows(rows=[])
    for row in read_jsonl(path):
        result.read += 1
        instruction, response = row.get("instruction"), row.get("response")
        if not isinstance(instruction, str) or not isinstance(response, str):
            result.dropped["missing_instruction_or_response"] += 1
            continue
        tokens = tokenize_example(tokenizer, instruction, response)
        if len(tokens["input_ids"]) > max_length:
            result.dropped["longer_than_max_length"] += 1
            continue
        result.rows.append(tokens)
    if result.dropped:
        log.warning("%s: %s", path, result.summary())
    return result
