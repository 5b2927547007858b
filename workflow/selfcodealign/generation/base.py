"""One interface for every generation backend: prompts in, completions with finish reasons out.

All backends honour the same sampling settings and per-prompt seeds, and report for each
sample why it ended: ``stop`` (a stop string or end of sequence) or ``length`` (the token limit).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SamplingSettings:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 16
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int = 0
    # Regular expressions (multiline) that end a completion just after their first match, where
    # a stop string cannot say it: I->R ends after its tests block. Backends that cannot stop
    # on them early cut the text afterwards.
    stop_after: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_config(
        cls,
        settings: dict[str, Any],
        stop: tuple[str, ...],
        seed: int,
        stop_after: tuple[str, ...] = (),
    ):
        return cls(
            n=settings["n"],
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            max_tokens=settings["max_tokens"],
            stop=stop,
            seed=seed,
            stop_after=stop_after,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" (a stop string or end of sequence) or "length" (max_tokens)
    tokens: int = 0  # generated tokens, for throughput figures


class Backend(ABC):
    @abstractmethod
    def generate(
        self, prompts: list[str], sampling: SamplingSettings, seeds: list[int] | None = None
    ) -> list[list[Completion]]:
        """``sampling.n`` completions per prompt, in prompt order.

        ``seeds`` gives each prompt its own random seed (reproducible per row whatever the
        batching); without it every prompt uses ``sampling.seed``.
        """

    def close(self) -> None:  # noqa: B027 (optional hook, nothing to release by default)
        """Release the model or connections."""


def truncate_at_stop(
    text: str, stop: tuple[str, ...], stop_after: tuple[str, ...] = ()
) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string, or after the earliest match of a
    ``stop_after`` pattern, whichever ends first; report whether either was found."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    for pattern in stop_after:
        match = re.search(pattern, text, re.M)
        if match:
            cuts.append(match.end())
    return (text[: min(cuts)], True) if cuts else (text, False)


def cut_completion(text: str, reason: str, tokens: int, sampling: SamplingSettings) -> Completion:
    """A completion from a backend that stops on strings only, cut after its ``stop_after``
    match (which then counts as a stop)."""
    text, found = truncate_at_stop(text, (), sampling.stop_after)
    return Completion(text, "stop" if found else reason, tokens)


def load_backend(model: dict[str, Any], gpus: int = 0, openai: dict | None = None) -> Backend:
    """The backend named in the ``model`` config section."""
    kind, dtype, revision = model["backend"], model.get("dtype", "auto"), model.get("revision")
    if kind == "transformers":
        from selfcodealign.generation.hf import TransformersBackend

        return TransformersBackend(model["name"], dtype=dtype, revision=revision)
    if kind == "vllm":
        from selfcodealign.generation.vllm_backend import VllmBackend

        return VllmBackend(
            model["name"],
            dtype=dtype,
            gpus=max(gpus, 1),
            revision=revision,
            gpu_memory_utilization=model.get("gpu_memory_utilization", 0.9),
            max_model_len=model.get("max_model_len"),
        )
    if kind == "openai":
        from selfcodealign.generation.openai_backend import OpenAIBackend

        return OpenAIBackend(model["name"], **(openai or {}))
    raise ValueError(f"unknown model.backend {kind!r}")
