"""An encode-once cache: prompts seen recently (the negative prompt, a prompt asked for again) skip the LLM.

Entries are one prompt's row of the encoder's output, keyed by the prompt and everything that shapes it
(the encoder settings, the model object and its weights' in-place update count), kept least recently used
first out. A frozen encoder's rows do not depend on the batch they were computed in, so rows put together
from the cache equal a fresh encoding up to kernel rounding.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EncodedRow:
    """One prompt's part of an `EncodedPrompts`: states and mask over its own positions."""

    hidden_states: torch.Tensor
    """(positions, width)"""
    attention_mask: torch.Tensor
    """(positions,)"""
    token_count: int
    dropped_tokens: int
    pooled: torch.Tensor | None


class EncodingCache:
    """Least-recently-used rows, at most `size` of them (0 turns the cache off)."""

    def __init__(self, size: int = 32):
        if size < 0:
            raise ValueError(f"cache size must be at least 0, not {size}")
        self.size = size
        self._rows: OrderedDict[tuple, EncodedRow] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: tuple) -> EncodedRow | None:
        row = self._rows.get(key)
        if row is None:
            self.misses += 1
            return None
        self._rows.move_to_end(key)
        self.hits += 1
        return row

    def put(self, key: tuple, row: EncodedRow) -> None:
        if self.size == 0:
            return
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def clear(self) -> None:
        self._rows.clear()
