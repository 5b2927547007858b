"""One interface for every generation backend: prompts in, completions with finish reasons out."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" (a stop string or EOS) or "length" (hit max_tokens)


class Backend(ABC):
    @abstractmethod
    def generate(self, prompts: list[str], sampling: SamplingSettings) -> list[list[Completion]]:
        """``sampling.n`` completions per prompt, in prompt order."""


def truncate_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string; report whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def load_backend(model: dict[str, Any], gpus: int = 0) -> Backend:
    """The backend named in the ``model`` config section."""
    kind = model["backend"]
    if kind == "transformers":
        from selfcodealign.generation.hf import TransformersBackend

        return TransformersBackend(model["name"], dtype=model.get("dtype", "auto"))
    if kind == "vllm":
        from selfcodealign.generation.vllm_backend import VllmBackend

        return VllmBackend(model["name"], dtype=model.get("dtype", "auto"), gpus=max(gpus, 1))
    raise ValueError(f"model.backend {kind!r} is not available for this step")
