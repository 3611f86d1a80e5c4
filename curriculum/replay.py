"""Replay buffer of EfficientTrain++ (TPAMI 2024, Sec. 5, "reducing the data pre-processing load"), as released.

LeapLabTHU/EfficientTrain ``engine_buffer.py: train_one_epoch``: the loader yields ``bs / r`` fresh samples per step;
the loaded batch is split into ``split`` (32) chunks that join a FIFO buffer of the ``N`` most recent loaded batches
(``N * split`` chunks, the oldest dropped first); the step trains on the fresh batch followed by ``(r - 1) * split``
chunks drawn uniformly *with replacement* from the buffer (which already holds the fresh batch). Steps and their
computation are unchanged; the loader reads ``r`` times fewer images.

Memory is bounded by the buffer: at most ``N`` loaded batches, i.e. ``N x fresh x bytes per sample`` (e.g. the
DeiT-S setting at B=96: 1920 batches x 128 samples x 3x96x96 x 2 bytes (the official half precision) = 6.8 GB per
process; uint8 images need half of that). ``mix`` keeps the tensors where they are (the trainer passes loader
output on the CPU) and in their dtype.
"""
from __future__ import annotations

import torch

__all__ = ["ReplayBuffer"]

Batch = tuple[torch.Tensor, ...]


class ReplayBuffer:
    """``mix(batch)`` returns ``batch`` followed by ``(times - 1)`` batches' worth of chunks from the buffer."""

    def __init__(self, times: int, capacity_batches: int, split: int = 32, generator: torch.Generator | None = None):
        if times < 1:
            raise ValueError(f"replay times must be >= 1, got {times}")
        if times > 1 and capacity_batches < 1:
            raise ValueError(f"a replay buffer needs a capacity of at least one loaded batch, got {capacity_batches}")
        if split < 1:
            raise ValueError(f"the split factor must be >= 1, got {split}")
        self.times, self.capacity, self.split = times, capacity_batches, split
        self.generator = generator or torch.Generator()
        self.chunks: list[Batch] = []

    def __len__(self) -> int:
        """Samples held."""
        return sum(chunk[0].shape[0] for chunk in self.chunks)

    def state_dict(self) -> dict:
        """The chunks held and the draw generator's state: a checkpoint that continues the replay exactly."""
        return {"chunks": [tuple(chunk) for chunk in self.chunks], "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.chunks = [tuple(chunk) for chunk in state["chunks"]]
        self.generator.set_state(state["generator"])

    def mix(self, batch: Batch) -> Batch:
        if self.times == 1:
            return batch
        split = min(self.split, batch[0].shape[0])  # never an empty chunk for small (test) batches
        self.chunks.extend(zip(*(torch.tensor_split(t, split) for t in batch)))
        excess = len(self.chunks) - self.capacity * split
        if excess > 0:
            del self.chunks[:excess]
        draws = torch.randint(0, len(self.chunks), ((self.times - 1) * split,), generator=self.generator)
        picked = [self.chunks[i] for i in draws.tolist()]
        return tuple(torch.cat([field, *(chunk[k] for chunk in picked)]) for k, field in enumerate(batch))
