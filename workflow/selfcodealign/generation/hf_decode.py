"""A decoding loop over a transformers model's forward pass, for CPU throughput.

``model.generate`` keeps every row of a static batch in the forward pass until the longest one
ends, and samples the whole batch from one random generator. On 2 cores with SmolLM2-135M,
HumanEval prompts in batches of 32 spent most of their compute on rows that had already
stopped. This loop:

* prefills each prompt once and copies its KV cache to its ``n`` samples;
* drops rows from the batch (and from the cache) as they end: EOS, a stop string, a stop
  pattern, or the token limit (ended rows go once they are an eighth of the batch, since each
  drop copies the cache);
* samples each row from its own generator, seeded by the row's seed and sample number, so a
  row's samples do not depend on which rows share its batch or in which order.

Temperature and top-p follow the usual definitions (top-p keeps the smallest set of tokens whose
probability reaches ``top_p``); temperature 0 is greedy.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch

from selfcodealign.generation.base import SamplingSettings, truncate_at_stop
from selfcodealign.generation.hf_cache import reserved_cache

make_cache = reserved_cache
_SEED_STRIDE = 1_000_003  # sample k of a row seeded s draws from seed s * stride + k


@dataclass
class _Row:
    prompt: int  # index of the prompt in the batch
    generator: torch.Generator | None
    ids: list[int] = field(default_factory=list)
    text: str = ""
    reason: str | None = None  # "stop" or "length" once finished


def rows_per_prompt(sampling: SamplingSettings) -> int:
    """Rows decoded for one prompt: greedy decodes once for all ``n`` samples."""
    return 1 if sampling.temperature <= 0 else sampling.n


def sample_seed(seed: int, sample: int) -> int:
    return (seed * _SEED_STRIDE + sample) % (1 << 63)


def next_tokens(
    logits: torch.Tensor, rows: list[_Row], temperature: float, top_p: float
) -> list[int]:
    """One token per row: the argmax when greedy, else a draw from the row's own generator."""
    if temperature <= 0:
        return logits.argmax(dim=-1).tolist()
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep a token while the mass before it is below top_p (the first one always).
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return [
        int(torch.multinomial(probs[i], 1, generator=row.generator)) for i, row in enumerate(rows)
    ]


def decode_batch(
    model,
    tokenizer,
    prompt_ids: list[list[int]],
    sampling: SamplingSettings,
    seeds: list[int],
    eos_ids: set[int],
) -> list[list[_Row]]:
    """``sampling.n`` finished rows per prompt (greedy: one row, repeated)."""
    pad = tokenizer.pad_token_id
    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompt_ids])
    mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    copies = rows_per_prompt(sampling)
    greedy = sampling.temperature <= 0
    rows = [
        _Row(p, None if greedy else torch.Generator().manual_seed(sample_seed(seeds[p], k)))
        for p in range(len(prompt_ids))
        for k in range(copies)
    ]
    cache = make_cache(model.config, width + sampling.max_tokens)
    # transformers 5.24 renamed the forward's cache argument; the cache is updated in place.
    cache_arg = (
        "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    )
    with torch.inference_mode():
        out = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{cache_arg: cache},
        )
        logits = out.logits[:, -1, :]
        last_position = positions[:, -1]
        if copies > 1:
            cache.batch_repeat_interleave(copies)
            logits = logits.repeat_interleave(copies, dim=0)
            mask = mask.repeat_interleave(copies, dim=0)
            last_position = last_position.repeat_interleave(copies, dim=0)
        active = rows
        while True:
            tokens = next_tokens(logits, active, sampling.temperature, sampling.top_p)
            for row, token in zip(active, tokens, strict=True):
                if row.reason is not None:
                    continue  # ended earlier, still in the batch until the next compaction
                if token in eos_ids:
                    row.reason = "stop"
                    continue
                row.ids.append(token)
                text = tokenizer.decode(row.ids, skip_special_tokens=True)
                row.text, stopped = truncate_at_stop(text, sampling.stop, sampling.stop_after)
                if stopped:
                    row.reason = "stop"
                elif len(row.ids) >= sampling.max_tokens:
                    row.reason = "length"
            keep = [i for i, row in enumerate(active) if row.reason is None]
            if not keep:
                break
            # Drop ended rows once they are an eighth of the batch: each compaction copies the
            # cache, each ended row kept costs one row of compute a step.
            if len(active) - len(keep) >= max(1, len(active) // 8):
                index = torch.tensor(keep)
                cache.batch_select_indices(index)
                mask, last_position = mask[index], last_position[index]
                tokens = [tokens[i] for i in keep]
                active = [active[i] for i in keep]
            tokens = [
                pad if row.reason is not None else t for row, t in zip(active, tokens, strict=True)
            ]
            mask = torch.cat([mask, torch.ones(len(active), 1, dtype=mask.dtype)], dim=-1)
            last_position = last_position + 1
            out = model(
                input_ids=torch.tensor(tokens).unsqueeze(-1),
                attention_mask=mask,
                position_ids=last_position.unsqueeze(-1),
                use_cache=True,
                logits_to_keep=1,
                **{cache_arg: cache},
            )
            logits = out.logits[:, -1, :]
    by_prompt: list[list[_Row]] = [[] for _ in prompt_ids]
    for row in rows:
        by_prompt[row.prompt].append(row)
    if greedy:
        by_prompt = [group * sampling.n for group in by_prompt]
    return by_prompt
