"""Offline batched generation with ``vllm.LLM``: the default on GPUs."""

from __future__ import annotations

from selfcodealign.generation.base import Backend, Completion, SamplingSettings


class VllmBackend(Backend):
    def __init__(self, model_name: str, dtype: str = "auto", gpus: int = 1):
        from vllm import LLM

        self.llm = LLM(
            model=model_name,
            dtype=dtype,
            tensor_parallel_size=gpus,
            enable_prefix_caching=True,  # few-shot prompts share long prefixes
        )

    def generate(self, prompts: list[str], sampling: SamplingSettings) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop),
            seed=sampling.seed,
        )
        outputs = self.llm.generate(prompts, params)
        return [
            [
                Completion(o.text, "length" if o.finish_reason == "length" else "stop")
                for o in out.outputs
            ]
            for out in outputs
        ]
