"""Any OpenAI-compatible completions endpoint (a running ``vllm serve``, for one).

Requests run concurrently in threads; the ``openai`` client retries with exponential backoff.
The API key is read from an environment variable named in config, so it never appears in
Snakemake params, logs or outputs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from selfcodealign.generation.base import Backend, Completion, SamplingSettings, cut_completion


class OpenAIBackend(Backend):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 32,
        max_retries: int = 6,
        timeout_s: float = 600,
    ):
        from openai import OpenAI

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("openai backend: set openai.base_url in config or OPENAI_BASE_URL")
        self.model_name = model_name
        self.client = OpenAI(
            base_url=base_url,
            # A local vLLM server accepts any key; a hosted endpoint needs the real one.
            api_key=os.environ.get(api_key_env) or "EMPTY",
            max_retries=max_retries,
            timeout=timeout_s,
        )
        self.concurrency = concurrency

    def _complete(self, prompt: str, sampling: SamplingSettings, seed: int) -> list[Completion]:
        response = self.client.completions.create(
            model=self.model_name,
            prompt=prompt,
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            seed=seed,
        )
        choices = sorted(response.choices, key=lambda c: c.index)
        # The API reports tokens per request, not per choice: split them so the sum is exact.
        total = response.usage.completion_tokens if response.usage else 0
        share, extra = divmod(total, max(len(choices), 1))
        return [
            cut_completion(
                c.text,
                "length" if c.finish_reason == "length" else "stop",
                share + (i < extra),
                sampling,
            )
            for i, c in enumerate(choices)
        ]

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        seeds = seeds or [sampling.seed] * len(prompts)
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda p, s: self._complete(p, sampling, s), prompts, seeds))

    def close(self) -> None:
        self.client.close()
