"""Offline batched generation with ``vllm.LLM``: the default on GPUs."""

from __future__ import annotations

from selfcodealign.generation.base import Backend, Completion, SamplingSettings, cut_completion


class VllmBackend(Backend):
    def __init__(
        self,
        model_name: str,
        dtype: str = "auto",
        gpus: int = 1,
        revision: str | None = None,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
    ):
        import torch
        from vllm import LLM

        # vLLM's CPU build fails when a seeded request's prompt is split across steps
        # (chunked prefill): on CPU, prefill whole prompts.
        cpu = not torch.cuda.is_available()
        self.llm = LLM(
            model=model_name,
            revision=revision,
            dtype=dtype,
            tensor_parallel_size=gpus,
            enable_prefix_caching=True,  # few-shot prompts share long prefixes
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            **({"enable_chunked_prefill": False} if cpu else {}),
        )

    def close(self) -> None:
        # Stops the engine's processes now rather than at interpreter exit.
        shutdown = getattr(getattr(self.llm, "llm_engine", None), "shutdown", None)
        if callable(shutdown):
            shutdown()

    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        seeds = seeds or [sampling.seed] * len(prompts)
        params = [
            SamplingParams(
                n=sampling.n,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                stop=list(sampling.stop),
                seed=seed,
            )
            for seed in seeds
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            [
                cut_completion(
                    o.text,
                    "length" if o.finish_reason == "length" else "stop",
                    len(o.token_ids),
                    sampling,
                )
                for o in out.outputs
            ]
            for out in outputs
        ]
