"""Hugging Face ``transformers`` generation: for CPU runs, tests and the demo.

Prompts are tokenized, sorted by length (so a batch pads little) and decoded in batches of
``batch_size`` prompts (by default, each call is one batch: callers batch their rows) and at
most ``MAX_ROWS`` rows, the ``n`` samples counted, by ``hf_decode.decode_batch``, which drops
each row from the forward pass as it ends and samples every row from its own seed. Results
come back in prompt order.
"""

from __future__ import annotations

from selfcodealign.generation.base import Backend, Completion, SamplingSettings
from selfcodealign.generation.hf_decode import decode_batch, rows_per_prompt

# Rows decoded together at most: on 2 cores throughput stops growing at about 32 rows, and 64
# rows of 1,600 tokens hold about 4.6 GB of KV cache for SmolLM2-135M.
MAX_ROWS = 64


class TransformersBackend(Backend):
    def __init__(
        self,
        model_name: str,
        dtype: str = "auto",
        revision: str | None = None,
        batch_size: int | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_name, revision=revision)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_name, dtype=torch_dtype, revision=revision
        )
        self.model.eval()
        self.batch_size = batch_size
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {e for e in [*eos, self.tokenizer.eos_token_id] if e is not None}

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        seeds = seeds or [sampling.seed] * len(prompts)
        prompt_ids = [self.tokenizer(prompt).input_ids for prompt in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(prompt_ids[i]))
        results: list[list[Completion]] = [[] for _ in prompts]
        size = self.batch_size or max(len(order), 1)
        # n samples per prompt are n rows: cap the rows decoded together (and their KV cache).
        size = max(1, min(size, MAX_ROWS // rows_per_prompt(sampling)))
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            rows = decode_batch(
                self.model,
                self.tokenizer,
                [prompt_ids[i] for i in batch],
                sampling,
                [seeds[i] for i in batch],
                self.eos_ids,
            )
            for i, group in zip(batch, rows, strict=True):
                results[i] = [Completion(r.text, r.reason or "stop", len(r.ids)) for r in group]
        return results
