"""The loader's RandomResizedCrop box and horizontal flip, drawn from Python's ``random`` as timm draws them.

torchvision's ``RandomResizedCrop.get_params`` and ``RandomHorizontalFlip`` draw through one-element torch tensors
(``torch.empty(1).uniform_``, ``torch.randint``, ``torch.rand``): about 0.1 ms of a 0.55 ms supervised sample on
one CPU core (Imagenette from the decoded cache, ``benchmarks/supervised_costs.py``), the same at every stage.
timm's ``RandomResizedCropAndInterpolation.get_params`` (``timm/data/transforms.py``, the crop of
``create_transform``, which DeiT's and MAE's fine-tuning use) is the same algorithm -- up to ten attempts at an
area uniform in ``scale`` times the image's and an aspect ratio log-uniform in ``ratio``, the box's origin uniform
over the positions that fit, else the central crop clipped to ``ratio`` -- drawn from Python's ``random`` in about
3 us. Both classes here keep torchvision's steps and pixels and take that draw; ``engine.data`` seeds ``random``
per sample, so every ``data.decode`` mode draws the same boxes and flips for a sample.
"""
from __future__ import annotations

import random

import torch
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision import transforms
from torchvision.transforms import functional as F

__all__ = ["RandomResizedCrop", "RandomHorizontalFlip", "draw_box", "draw_flip"]


def draw_box(width: int, height: int, scale: tuple[float, float], ratio: tuple[float, float]) -> tuple[int, ...]:
    """``(top, left, height, width)`` of a crop box of a ``width x height`` image (timm's draw)."""
    return RandomResizedCropAndInterpolation.get_params(torch.empty(1, 1).expand(height, width), scale, ratio)


def draw_flip(p: float) -> bool:
    """Whether to flip: a coin of probability ``p`` from Python's ``random`` (the one draw every mode makes)."""
    return random.random() < p


class RandomResizedCrop(transforms.RandomResizedCrop):
    """torchvision's ``RandomResizedCrop`` (same arguments, same crop and resampling) with timm's box draw."""

    get_params = staticmethod(RandomResizedCropAndInterpolation.get_params)


class RandomHorizontalFlip(transforms.RandomHorizontalFlip):
    """torchvision's ``RandomHorizontalFlip`` with the coin drawn from Python's ``random``."""

    def forward(self, img):
        return F.hflip(img) if draw_flip(self.p) else img
