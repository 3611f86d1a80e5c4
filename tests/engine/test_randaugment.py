"""Batched RandAugment (``engine.randaugment``) against timm's: every op against timm's Pillow op on the same image,
magnitude and sign; the per-sample draws against timm's own draws in distribution (op frequencies, probability 0.5,
magnitude noise, m = 0); one draw per sample key, whatever the batch."""
import random
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.auto_augment import posterize, rand_augment_transform
from torchvision.transforms.functional import pil_to_tensor

from engine.data import SyntheticImages
from engine.randaugment import OPS, BatchedRandAugment
from finetune.transforms import posterize_keeping_zero_bits

FILL = (124, 116, 104)


def timm_ops(size: int, magnitude: float = 9, std: float = 0.5):
    hparams = {"translate_const": int(size * 0.45), "img_mean": FILL, "interpolation": Image.Resampling.BICUBIC}
    return rand_augment_transform(f"rand-m{magnitude}-n2-mstd{std}-inc1", hparams)


def images():
    """Generated gratings and blobs (64 px) and a non-square photo-like crop with noise (48 x 40)."""
    out = [SyntheticImages(3, 64, seed=3).image(i) for i in range(3)]
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (12, 10, 3)), np.ones((4, 4, 1))) + rng.normal(0, 12, (48, 40, 3))
    return out + [Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8))]


def test_the_op_list_is_timms_increasing_policy():
    assert tuple(op.name for op in timm_ops(64).ops) == OPS


@pytest.mark.parametrize("name", OPS)
def test_every_op_matches_timms_pillow_op(name):
    """At most 1 grey level anywhere, and at most 0.05 on average over an image (measured: 0 for 10 of the 15 ops;
    AutoContrast 0.03, Contrast 0.002, the geometric ops up to 0.008: float against Pillow's own arithmetic)."""
    ours = BatchedRandAugment(fill=FILL)
    for image in images():
        (op,) = [op for op in timm_ops(image.width).ops if op.name == name]
        fn = posterize_keeping_zero_bits if op.aug_fn is posterize else op.aug_fn
        for level in (0.0, 1.3, 5.0, 9.0, 10.0):
            for sign, draw in ((1.0, 0.2), (-1.0, 0.8)):  # timm negates when random() > 0.5
                with mock.patch("timm.data.auto_augment.random.random", return_value=draw):
                    args = op.level_fn(level, op.hparams) if op.level_fn else ()
                expected = pil_to_tensor(fn(image, *args, **op.kwargs)).float()
                got = ours.apply(name, pil_to_tensor(image)[None], torch.tensor([level]), torch.tensor([sign]))[0]
                diff = (got.float() - expected).abs()
                assert diff.max() <= 1 and diff.mean() <= 0.05, (name, level, sign, diff.max(), diff.mean())


def timm_draws(magnitude: float, count: int) -> tuple[list[int], list[float]]:
    """What timm's RandAugment draws for ``count`` images: ops applied per image, and the magnitudes it used."""
    transform = timm_ops(8, round(magnitude))
    applied, levels = [], []
    for op in transform.ops:
        op.magnitude = magnitude
        op.aug_fn = lambda img, *args, **kwargs: img.__setattr__("hits", img.hits + 1) or img
        if op.level_fn is not None:
            op.level_fn = (lambda fn: lambda level, hp: levels.append(level) or fn(level, hp))(op.level_fn)
    random.seed(0)
    np.random.seed(0)
    image = Image.new("RGB", (8, 8))
    for _ in range(count):
        image.hits = 0
        transform(image)
        applied.append(image.hits)
    return applied, levels


@pytest.mark.parametrize("magnitude", [0.0, 5.0, 9.6])
def test_the_draws_follow_timms_policy(magnitude):
    """Two ops per image with replacement, each applied with probability 0.5 (0, 1, 2 ops: 1/4, 1/2, 1/4), ops
    uniform over the 15, magnitudes N(m, 0.5) clipped to [0, 10] as timm draws them, signs even."""
    count = 40000
    op, level, sign = BatchedRandAugment().draw(torch.arange(count), magnitude, seed=3)
    per_image = (op >= 0).sum(1).float()
    theirs, their_levels = timm_draws(magnitude, 20000)
    for k, p in enumerate((0.25, 0.5, 0.25)):
        assert abs((per_image == k).float().mean() - p) < 0.012
        assert abs(np.mean(np.array(theirs) == k) - p) < 0.012  # the reference agrees with the policy too
    counts = torch.bincount(op[op >= 0], minlength=len(OPS)).float()
    expected = counts.sum() / len(OPS)
    assert ((counts - expected).abs() < 5 * expected.sqrt()).all()
    ours = level[(op >= 3)]  # the ops with a magnitude (Rotate onwards)
    assert ours.mean().item() == pytest.approx(np.mean(their_levels), abs=0.02)
    assert ours.std().item() == pytest.approx(np.std(their_levels), abs=0.02)
    assert (ours == 0).float().mean().item() == pytest.approx(np.mean(np.array(their_levels) == 0), abs=0.015)
    assert ours.min() >= 0 and ours.max() <= 10
    assert (sign > 0).float().mean().item() == pytest.approx(0.5, abs=0.01)


def test_magnitude_zero_still_applies_the_magnitude_free_ops():
    """rand-m0-mstd0.5: Invert, AutoContrast and Equalize apply; the others at the noise's small magnitudes."""
    augment = BatchedRandAugment()
    op, level, _ = augment.draw(torch.arange(5000), 0.0)
    assert {0, 1, 2} <= set(op[op >= 0].tolist())
    assert (level == 0).float().mean() == pytest.approx(0.5, abs=0.02) and level.max() < 2.5
    image = pil_to_tensor(images()[0])[None]
    assert not torch.equal(augment(image.repeat(16, 1, 1, 1), torch.arange(16), 0.0), image.repeat(16, 1, 1, 1))


def test_a_samples_augmentation_depends_on_its_key_alone():
    augment = BatchedRandAugment()
    batch = torch.stack([pil_to_tensor(images()[i % 3]) for i in range(12)])
    keys = torch.arange(100, 112)
    out = augment(batch, keys, 7.0, seed=1)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(augment(batch[order], keys[order], 7.0, seed=1), out[order], rtol=0, atol=0)
    torch.testing.assert_close(augment(batch[:5], keys[:5], 7.0, seed=1), out[:5], rtol=0, atol=0)
    assert not torch.equal(augment(batch, keys, 7.0, seed=2), out)  # another run's seed draws otherwise
    with pytest.raises(ValueError, match="uint8 batch"):
        augment(batch.float(), keys, 7.0)
