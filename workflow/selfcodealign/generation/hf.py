"""Hugging Face ``transformers`` generation: for CPU runs, tests and the demo."""

from __future__ import annotations

from selfcodealign.generation.base import Backend, Completion, SamplingSettings, truncate_at_stop


class TransformersBackend(Backend):
    def __init__(self, model_name: str, dtype: str = "auto", batch_size: int = 8):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_name)
        self.tokenizer.padding_side = "left"  # decoder-only models continue from the right
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(model_name, torch_dtype=torch_dtype)
        self.model.eval()
        self.batch_size = batch_size

    def generate(self, prompts: list[str], sampling: SamplingSettings) -> list[list[Completion]]:
        torch = self._torch
        torch.manual_seed(sampling.seed)
        results: list[list[Completion]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start : start + self.batch_size]
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True)
            sample = sampling.temperature > 0
            with torch.no_grad():
                output = self.model.generate(
                    **encoded,
                    max_new_tokens=sampling.max_tokens,
                    do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None,
                    num_return_sequences=sampling.n,
                    pad_token_id=self.tokenizer.pad_token_id,
                    stop_strings=list(sampling.stop) or None,
                    tokenizer=self.tokenizer,
                )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            for i in range(len(batch)):
                completions = []
                for row in new_tokens[i * sampling.n : (i + 1) * sampling.n]:
                    ids = row.tolist()
                    ended = self.tokenizer.eos_token_id in ids or self.tokenizer.pad_token_id in ids
                    text = self.tokenizer.decode(ids, skip_special_tokens=True)
                    text, stopped = truncate_at_stop(text, sampling.stop)
                    reason = "stop" if stopped or ended else "length"
                    completions.append(Completion(text, reason))
                results.append(completions)
        return results
