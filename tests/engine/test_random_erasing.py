"""Keyed random erasing against timm's ``RandomErasing``: the same distribution of boxes, noise N(0, 1) inside and
nothing touched outside, and draws that depend on the sample's key alone."""
import random

import numpy as np
import pytest
import torch
from timm.data.random_erasing import RandomErasing

from engine.random_erasing import KeyedRandomErasing

H, W, N = 24, 40, 4000


def _boxes_of(images: torch.Tensor) -> np.ndarray:
    """``(erased, h, w, top, left)`` of each image of a zero batch, read off its non-zero pixels."""
    out = []
    for image in images:
        rows, cols = image.abs().sum(0).nonzero(as_tuple=True)
        if len(rows) == 0:
            out.append((0, 0, 0, 0, 0))
        else:
            out.append((1, int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1, int(rows.min()),
                        int(cols.min())))
    return np.array(out)


@pytest.fixture(scope="module")
def drawn():
    random.seed(0)
    torch.manual_seed(0)
    theirs = _boxes_of(RandomErasing(0.25, mode="pixel", device="cpu")(torch.zeros(N, 3, H, W)))
    ours = _boxes_of(KeyedRandomErasing(0.25)(torch.zeros(N, 3, H, W), torch.arange(N) + 10_000, seed=3))
    return theirs, ours


def test_the_boxes_follow_timms_distribution(drawn):
    theirs, ours = drawn
    assert abs(ours[:, 0].mean() - 0.25) < 0.02 and abs(theirs[:, 0].mean() - 0.25) < 0.02
    t, o = theirs[theirs[:, 0] == 1], ours[ours[:, 0] == 1]
    for column, name in ((1, "h"), (2, "w"), (3, "top"), (4, "left")):
        assert abs(o[:, column].mean() - t[:, column].mean()) < 0.1 * t[:, column].mean() + 0.3, name
        assert abs(np.median(o[:, column]) - np.median(t[:, column])) <= 0.1 * np.median(t[:, column]) + 1, name
    area_t, area_o = np.sort(t[:, 1] * t[:, 2] / (H * W)), np.sort(o[:, 1] * o[:, 2] / (H * W))
    grid = np.linspace(0, 0.4, 41)  # two-sample Kolmogorov-Smirnov distance of the erased area
    ks = np.abs(np.searchsorted(area_t, grid) / len(area_t) - np.searchsorted(area_o, grid) / len(area_o)).max()
    assert ks < 0.08, ks
    assert (o[:, 1] < H).all() and (o[:, 2] < W).all() and (o[:, 3] + o[:, 1] <= H).all()
    assert (o[:, 4] + o[:, 2] <= W).all() and o[:, 3].min() == 0 and o[:, 4].min() == 0
    assert (o[:, 3] + o[:, 1]).max() == H and (o[:, 4] + o[:, 2]).max() == W  # randint's bounds are both reached


def test_noise_inside_the_box_and_nothing_outside():
    erase = KeyedRandomErasing(1.0)
    images = torch.full((64, 3, H, W), 7.0)
    keys = torch.arange(64)
    out = erase(images, keys)
    boxes = erase.boxes(keys, H, W)
    inside = torch.zeros_like(images, dtype=torch.bool)
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        inside[i, :, top:top + h, left:left + w] = True
    assert (out[~inside] == 7.0).all() and (images == 7.0).all()  # the input is left as it was
    noise = out[inside]
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05 and (noise != 7.0).all()


def test_a_samples_erasing_depends_on_its_key_alone():
    erase = KeyedRandomErasing(0.5)
    images = torch.zeros(16, 3, H, W)
    keys = torch.randperm(1000)[:16]
    whole = erase(images, keys, seed=5)
    order = torch.randperm(16)
    parts = torch.cat([erase(images[order[:7]], keys[order[:7]], seed=5),
                       erase(images[order[7:]], keys[order[7:]], seed=5)])
    torch.testing.assert_close(parts, whole[order], rtol=0, atol=0)
    assert not torch.equal(erase(images, keys, seed=6), whole)
    assert whole.abs().sum((1, 2, 3)).gt(0).any() and whole.abs().sum((1, 2, 3)).eq(0).any()


def test_a_bad_probability_is_refused():
    with pytest.raises(ValueError, match="probability"):
        KeyedRandomErasing(1.5)
