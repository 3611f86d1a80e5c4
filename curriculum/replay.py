"""Replay buffer of EfficientTrain++ (TPAMI 2024, "reducing the data pre-processing load").

At small input sizes a GPU can consume batches faster than the CPUs decode them. The replay buffer lets every
loaded batch drive ``times`` optimisation steps: the loaded batch itself, then ``times - 1`` batches of the same
size drawn without replacement from a FIFO buffer of the most recent ``capacity`` samples (``capacity`` equal to
the batch size replays the same batch). ``times = 1`` passes batches through untouched. The official scripts use
4 replays with a 1920-sample buffer at B=96 and 2 replays with 256 at B=160 (per GPU, deit-S).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch

__all__ = ["ReplayBuffer"]

Batch = tuple[torch.Tensor, ...]


class ReplayBuffer:
    """Yields ``(replay_round, batch)`` pairs; ``replay_round`` is 0 for a freshly loaded batch."""

    def __init__(self, times: int, capacity: int, generator: torch.Generator | None = None):
        if times < 1:
            raise ValueError(f"replay times must be >= 1, got {times}")
        if times > 1 and capacity < 1:
            raise ValueError(f"a replay buffer needs a positive capacity, got {capacity}")
        self.times, self.capacity = times, capacity
        self.generator = generator or torch.Generator()
        self._store: Batch | None = None

    def __len__(self) -> int:
        return 0 if self._store is None else self._store[0].shape[0]

    def _push(self, batch: Batch) -> None:
        if self._store is None:
            self._store = tuple(t[-self.capacity:] for t in batch)
        else:
            self._store = tuple(torch.cat([old, new])[-self.capacity:] for old, new in zip(self._store, batch))

    def _sample(self, size: int) -> Batch:
        count = len(self)
        picks = torch.randperm(count, generator=self.generator)[:min(size, count)]
        return tuple(t[picks.to(t.device)] for t in self._store)

    def __call__(self, batches: Iterable[Batch]) -> Iterator[tuple[int, Batch]]:
        for batch in batches:
            yield 0, batch
            if self.times == 1:
                continue
            self._push(batch)
            for r in range(1, self.times):
                yield r, self._sample(batch[0].shape[0])
