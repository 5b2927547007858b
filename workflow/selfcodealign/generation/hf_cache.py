"""A KV cache that appends in place, for the CPU decoding loop.

transformers' ``DynamicLayer`` appends each step's keys and values with ``torch.cat``, which
copies the whole cache of every layer at every step; on CPU that copy costs about as much as
the step's compute once prompts are a few hundred tokens long. This layer keeps its keys and
values in buffers reserved for the prompt plus the token limit (grown by doubling if ever
exceeded) and hands the model views of the filled part; dropping finished rows moves the
others to the front of the same buffers.
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
        self._rows = 0  # rows in use: the first ones of the buffers
        self._length = 0

    def _expose(self) -> None:
        self.keys = self._keys[: self._rows, :, : self._length]
        self.values = self._values[: self._rows, :, : self._length]

    def _allocate(self, like: torch.Tensor, rows: int, capacity: int) -> None:
        """New buffers holding what the current ones hold (repeated ``rows // _rows`` times)."""
        shape = (rows, like.shape[1], capacity, like.shape[-1])
        keys, values = like.new_empty(shape), like.new_empty(shape)
        if self._length:
            repeats = rows // self._rows
            keys[:, :, : self._length] = self.keys.repeat_interleave(repeats, dim=0)
            values[:, :, : self._length] = self.values.repeat_interleave(repeats, dim=0)
        self._keys, self._values, self._rows = keys, values, rows

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self._length + key_states.shape[-2]
        if self._keys is None or end > self._keys.shape[-2]:
            self._allocate(key_states, key_states.shape[0], max(self.reserve, 2 * end))
        self._keys[: self._rows, :, self._length : end] = key_states
        self._values[: self._rows, :, self._length : end] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self._keys is not None:
            self._allocate(self._keys, self._rows * repeats, self._keys.shape[-2])
            self._expose()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep rows ``indices``, moved to the front of the buffers in place: a copy of the
        filled part only, with no new buffers."""
        if self._keys is not None:
            kept = len(indices)
            self._keys[:kept, :, : self._length] = self.keys[indices]
            self._values[:kept, :, : self._length] = self.values[indices]
            self._rows = kept
            self._expose()


def reserved_cache(config, reserve: int) -> DynamicCache:
    """A ``DynamicCache`` whose full-attention layers reserve ``reserve`` positions."""
    cache = DynamicCache(config=config)
    cache.layers = [
        ReservedLayer(reserve) if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache
