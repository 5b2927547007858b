"""Hugging Face ``transformers`` generation: for CPU runs, tests and the demo."""

from __future__ import annotations

from selfcodealign.generation.base import Backend, Completion, SamplingSettings, truncate_at_stop


class TransformersBackend(Backend):
    def __init__(
        self, model_name: str, dtype: str = "auto", revision: str | None = None, batch_size: int = 8
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_name, revision=revision)
        self.tokenizer.padding_side = "left"  # decoder-only models continue from the right
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_name, dtype=torch_dtype, revision=revision
        )
        self.model.eval()
        self.batch_size = batch_size

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        seeds = seeds or [sampling.seed] * len(prompts)
        results: list[list[Completion]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            # One seed per batch (transformers samples a batch from one generator): the first
            # row's. A resumed shard restarts at a batch boundary, so it samples the same.
            results += self._generate_batch(batch, sampling, seeds[start])
        return results

    def _generate_batch(
        self, batch: list[str], sampling: SamplingSettings, seed: int
    ) -> list[list[Completion]]:
        torch = self._torch
        torch.manual_seed(seed)
        encoded = self.tokenizer(batch, return_tensors="pt", padding=True)
        sample = sampling.temperature > 0
        with torch.no_grad():
            output = self.model.generate(
                **encoded,
                max_new_tokens=sampling.max_tokens,
                do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None,
                top_k=None,
                # Greedy decoding gives one answer; it is repeated n times below.
                num_return_sequences=sampling.n if sample else 1,
                pad_token_id=self.tokenizer.pad_token_id,
                stop_strings=list(sampling.stop) or None,
                tokenizer=self.tokenizer,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        if not sample:
            new_tokens = new_tokens.repeat_interleave(sampling.n, dim=0)
        special = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        results = []
        for i in range(len(batch)):
            completions = []
            for row in new_tokens[i * sampling.n : (i + 1) * sampling.n]:
                ids = row.tolist()
                generated = next((k for k, t in enumerate(ids) if t in special), len(ids))
                text = self.tokenizer.decode(ids[:generated], skip_special_tokens=True)
                text, stopped = truncate_at_stop(text, sampling.stop)
                # Generation only ends early at EOS or a stop string.
                hit_limit = generated >= sampling.max_tokens and not stopped
                reason = "length" if hit_limit else "stop"
                completions.append(Completion(text, reason, generated))
            results.append(completions)
        return results
