"""A KV cache that appends in place, for the CPU decoding loop.

transformers' ``DynamicLayer`` appends each step's keys and values with ``torch.cat``, which
copies the whole cache of every layer at every step; on CPU that copy costs about as much as
the step's compute once prompts are a few hundred tokens long. This layer keeps its keys and
values in buffers reserved for the prompt plus the token limit (grown by doubling if ever
exceeded) and hands the model views of the filled part.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class ReservedLayer(DynamicLayer):
    def __init__(self, reserve: int):
        super().__init__()
        self.reserve = reserve
        self._keys: torch.Tensor | None = None
        self._values: torch.Tensor | None = None
        self._length = 0

    def _expose(self) -> None:
        self.keys = self._keys[..., : self._length, :]
        self.values = self._values[..., : self._length, :]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        end = self._length + new
        if self._keys is None or end > self._keys.shape[-2]:
            capacity = max(self.reserve, 2 * end)
            keys = key_states.new_empty(*key_states.shape[:-2], capacity, key_states.shape[-1])
            values = value_states.new_empty(
                *value_states.shape[:-2], capacity, value_states.shape[-1]
            )
            if self._length:
                keys[..., : self._length, :] = self._keys[..., : self._length, :]
                values[..., : self._length, :] = self._values[..., : self._length, :]
            self._keys, self._values = keys, values
        self._keys[..., self._length : end, :] = key_states
        self._values[..., self._length : end, :] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self._keys is not None:
            self._keys = self._keys.repeat_interleave(repeats, dim=0)
            self._values = self._values.repeat_interleave(repeats, dim=0)
            self._expose()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self._keys is not None:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._expose()


def reserved_cache(config, reserve: int) -> DynamicCache:
    """A ``DynamicCache`` whose full-attention layers reserve ``reserve`` positions."""
    cache = DynamicCache(config=config)
    cache.layers = [
        ReservedLayer(reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache
