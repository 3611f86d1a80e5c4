"""Random numbers that are a pure function of each sample's key (``engine.data.sample_key``), never of its rank,
batch position or the process's RNG: MAE's masks and the on-device augmentation draw from them, so a resumed run or
a run on another number of processes with the same global batch draws the same numbers for the same sample."""
from __future__ import annotations

import torch

__all__ = ["keyed_uniform"]


def keyed_uniform(keys: torch.Tensor, length: int) -> torch.Tensor:
    """Uniform noise in [0, 1) of shape ``[N, length]``, a pure function of each int64 sample key.

    A 31-bit multiply-xorshift hash of ``(key, position)``: values never exceed 2^62, so no int64 overflow.
    """
    mask31 = (1 << 31) - 1
    k = keys.to(torch.int64).view(-1, 1) & ((1 << 40) - 1)
    x = ((k * 2654435761) + torch.arange(length, device=keys.device, dtype=torch.int64) * 40503 + 12345) & mask31
    for multiplier in (0x2C1B3C6D, 0x297A2D39, 0x3B9AC9FB):
        x = ((x ^ (x >> 15)) * multiplier) & mask31
        x = x ^ (x >> 13)
    return x.to(torch.float64).div(2 ** 31).float()
