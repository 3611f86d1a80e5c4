"""timm's random erasing on a normalised batch on the training device, drawn from each sample's key.

The policy is timm's ``RandomErasing`` (``timm/data/random_erasing.py``) as DeiT and MAE fine-tuning use it
(``--reprob 0.25 --remode pixel --recount 1``): each image is erased with probability ``p``; up to 10 attempts draw
a target area uniform in ``[min_area, max_area]`` of the image and an aspect ratio log-uniform in
``[min_aspect, 1 / min_aspect]``, ``h = round(sqrt(area * aspect))``, ``w = round(sqrt(area / aspect))``; the first
box smaller than the image on both sides is placed uniformly (``randint`` bounds included) and filled with
per-pixel N(0, 1) noise (``mode="pixel"``, the noise of an image already normalised).

timm draws from Python's global ``random`` in batch order, so a sample's box would depend on its rank and batch
position. Here every number comes from ``engine.keyed_random``: the box is drawn on the host from the loader's keys
(the device queue is never waited for), the noise on the device from the same key, and a resumed run or one on
another number of processes erases the same pixels of the same sample.
"""
from __future__ import annotations

import math

import torch

from .keyed_random import keyed_uniform

__all__ = ["KeyedRandomErasing"]

_ATTEMPTS = 10
_SALT = 0x0E7A_5E5  # keeps these draws apart from the other users of a sample's key


class KeyedRandomErasing:
    """``RandomErasing(probability, min_area, max_area, min_aspect, mode="pixel")`` with keyed draws."""

    def __init__(self, probability: float = 0.25, min_area: float = 0.02, max_area: float = 1 / 3,
                 min_aspect: float = 0.3):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"the erasing probability must be in [0, 1], got {probability}")
        self.probability, self.min_area, self.max_area = probability, min_area, max_area
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))

    def boxes(self, keys: torch.Tensor, height: int, width: int, seed: int = 0) -> torch.Tensor:
        """``N x 4`` int64 boxes ``(top, left, h, w)`` from the host ``keys``; ``h = w = 0`` where nothing is erased
        (the draw said no, or no attempt fitted)."""
        u = keyed_uniform(keys.to(torch.int64) * 1_000_003 + seed * 104_729 + _SALT, 1 + 4 * _ATTEMPTS).double()
        attempts = u[:, 1:].view(len(keys), _ATTEMPTS, 4)
        area = (self.min_area + (self.max_area - self.min_area) * attempts[..., 0]) * height * width
        aspect = torch.exp(self.log_aspect[0] + (self.log_aspect[1] - self.log_aspect[0]) * attempts[..., 1])
        h = torch.round(torch.sqrt(area * aspect)).long()
        w = torch.round(torch.sqrt(area / aspect)).long()
        fits = (w < width) & (h < height)
        first = torch.where(fits.any(1), fits.long().argmax(1), -1)  # timm keeps the first attempt that fits
        erased = (u[:, 0] <= self.probability) & (first >= 0)  # timm skips when random() > probability
        pick = first.clamp(min=0)[:, None]
        h, w = h.gather(1, pick)[:, 0], w.gather(1, pick)[:, 0]
        top = (attempts[..., 2].gather(1, pick)[:, 0] * (height - h + 1)).long().clamp(max=height - h)
        left = (attempts[..., 3].gather(1, pick)[:, 0] * (width - w + 1)).long().clamp(max=width - w)
        boxes = torch.stack([top, left, h, w], 1)
        return torch.where(erased[:, None], boxes, 0)

    def __call__(self, images: torch.Tensor, keys: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """``images`` (``N x C x H x W`` float, normalised) with each sample's box filled with its keyed noise."""
        host = keys.cpu()
        boxes = self.boxes(host, images.shape[-2], images.shape[-1], seed)
        chosen = boxes[:, 2].nonzero().squeeze(1).tolist()
        if not chosen:
            return images
        noise_keys = (host[chosen].to(torch.int64) * 7_919 + seed + _SALT).to(images.device, non_blocking=True)
        out = images.clone()
        channels = images.shape[1]
        for row, i in enumerate(chosen):
            top, left, h, w = boxes[i].tolist()
            u = keyed_uniform(noise_keys[row:row + 1], 2 * channels * h * w).double().view(2, -1)
            normal = torch.sqrt(-2 * torch.log1p(-u[0])) * torch.cos(2 * math.pi * u[1])  # Box-Muller
            out[i, :, top:top + h, left:left + w] = normal.view(channels, h, w).to(images.dtype)
        return out
