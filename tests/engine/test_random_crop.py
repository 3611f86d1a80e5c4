"""The loaders' crop box and flip drawn from Python's ``random`` (``engine.random_crop``): torchvision's
distribution of boxes and its central fallback, torchvision's pixels for a box, a fair coin that ``random`` alone
decides."""
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import RandomResizedCrop as TorchvisionCrop
from torchvision.transforms import functional as F

from engine.random_crop import RandomHorizontalFlip, RandomResizedCrop, draw_box

RATIO = (3 / 4, 4 / 3)


def ks(a, b) -> float:
    """The two-sample Kolmogorov-Smirnov distance."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b)).max())


@pytest.mark.parametrize("width,height,scale", [(224, 224, (0.25, 1.0)), (500, 333, (0.08, 1.0))])
def test_boxes_follow_torchvisions_distribution(width, height, scale):
    n = 20_000
    random.seed(0)
    ours = np.array([draw_box(width, height, scale, RATIO) for _ in range(n)], dtype=np.float64)
    torch.manual_seed(0)
    image = torch.empty(1, 1).expand(height, width)
    theirs = np.array([TorchvisionCrop.get_params(image, scale, RATIO) for _ in range(n)], dtype=np.float64)
    top, left, h, w = ours.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= height).all() and (left + w <= width).all()
    critical = 1.63 * np.sqrt(2 / n)  # alpha = 0.01; a linear instead of log-uniform aspect is off by 0.07
    for name, a, b in (("area", h * w, theirs[:, 2] * theirs[:, 3]), ("aspect", w / h, theirs[:, 3] / theirs[:, 2]),
                       ("top", top / (height - h + 1), theirs[:, 0] / (height - theirs[:, 2] + 1)),
                       ("left", left / (width - w + 1), theirs[:, 1] / (width - theirs[:, 3] + 1))):
        assert ks(a, b) < critical, name


@pytest.mark.parametrize("width,height", [(1000, 20), (20, 1000), (100, 100)])
def test_the_central_fallback_is_torchvisions(width, height):
    """Where ten attempts fail (the box cannot fit), both fall back to the same central crop."""
    scale = (0.9, 1.0) if width != height else (2.0, 3.0)
    random.seed(1)
    torch.manual_seed(1)
    expected = tuple(TorchvisionCrop.get_params(torch.empty(1, 1).expand(height, width), scale, RATIO))
    assert tuple(draw_box(width, height, scale, RATIO)) == expected


def test_the_crop_is_torchvisions_resized_crop_of_the_drawn_box():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8))
    crop = RandomResizedCrop(48, scale=(0.2, 1.0), interpolation=InterpolationMode.BICUBIC)
    for seed in range(4):
        random.seed(seed)
        got = crop(image)
        random.seed(seed)
        box = draw_box(90, 120, (0.2, 1.0), RATIO)
        expected = F.resized_crop(image, *box, [48, 48], InterpolationMode.BICUBIC)
        assert np.array_equal(np.asarray(got), np.asarray(expected))


def test_the_flip_is_a_fair_coin_of_pythons_random():
    image = Image.fromarray(np.arange(12, dtype=np.uint8).reshape(2, 6))
    flip, mirrored = RandomHorizontalFlip(), np.asarray(F.hflip(image))
    random.seed(0)
    torch.manual_seed(0)
    outcomes = []
    for _ in range(4000):
        torch.manual_seed(0)  # torch's generator does not decide
        out = np.asarray(flip(image))
        assert np.array_equal(out, mirrored) or np.array_equal(out, np.asarray(image))
        outcomes.append(np.array_equal(out, mirrored))
    assert abs(np.mean(outcomes) - 0.5) < 0.03
    random.seed(5)
    first = [np.array_equal(np.asarray(flip(image)), mirrored) for _ in range(20)]
    random.seed(5)
    assert first == [np.array_equal(np.asarray(flip(image)), mirrored) for _ in range(20)]
