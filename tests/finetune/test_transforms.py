"""Fine-tuning transforms: the curriculum's continuous RandAugment magnitude, posterize at the top magnitude, timm's
hparams, the decode modes against the full path, where each step runs."""
import random

import numpy as np
import pytest
from PIL import Image

from engine.config import load_config
from finetune.config import DEMO_CONFIG, FinetuneConfig
from finetune.transforms import eval_transform, posterize_keeping_zero_bits, train_transform


def randaugment_ops(transform):
    return [t for t in transform.transforms if type(t).__name__ == "RandAugment"][0].ops


def test_randaugment_follows_the_schedule_magnitude():
    aug = load_config(FinetuneConfig, DEMO_CONFIG).aug
    assert {op.magnitude for op in randaugment_ops(train_transform(aug, 64, 3.6))} == {3.6}


def test_magnitude_zero_keeps_the_magnitude_free_operations():
    """The first ET++ stage is rand-m0-mstd0.5-inc1: AutoContrast, Equalize, Invert still apply."""
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.randaug_mstd=0"]).aug
    ops = randaugment_ops(train_transform(aug, 16, 0.0))
    names = {op.name for op in ops}
    assert {"AutoContrast", "Equalize", "Invert"} <= names and {op.magnitude for op in ops} == {0.0}
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(40, 200, (16, 16, 3), dtype=np.uint8))
    (invert,) = [op for op in ops if op.name == "Invert"]
    invert.prob = 1.0
    np.testing.assert_array_equal(np.asarray(invert(image)), 255 - np.asarray(image))


def test_low_frequency_modes_in_the_loader():
    """resize: PIL Lanczos to B right before the uint8 tensor (after RandAugment); fft-loader: timm's float pipeline
    with the crop after Normalize, before random erasing; fft: uint8 out, erasing left to the device."""
    import torch
    from curriculum import LowFrequencyCrop
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.reprob=0.25"]).aug
    names = [type(t).__name__ for t in train_transform(aug, 64, 4.0, 32, "resize").transforms]
    assert names.index("Resize") == names.index("PILToTensor") - 1 and names.index("RandAugment") < names.index(
        "Resize")
    steps = train_transform(aug, 64, 4.0, 32, "fft-loader").transforms
    names = [type(t).__name__ for t in steps]
    assert names.index("LowFrequencyCrop") == names.index("Normalize") + 1 < names.index("RandomErasing")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (80, 80, 3), dtype=np.uint8))
    for mode, dtype in (("resize", torch.uint8), ("fft-loader", torch.float32), ("fft", torch.uint8)):
        random.seed(0)
        out = train_transform(aug, 64, 4.0, 32, mode)(image)
        assert out.shape == ((3, 64, 64) if mode == "fft" else (3, 32, 32)) and out.dtype == dtype
    assert [type(t).__name__ for t in train_transform(aug, 64, 4.0, 32, "fft").transforms] == [
        "RandomResizedCrop", "RandomHorizontalFlip", "RandAugment", "PILToTensor"]
    assert isinstance(steps[names.index("LowFrequencyCrop")], LowFrequencyCrop)


def test_randaugment_hparams_are_timms():
    """The loader's RandAugment is the one timm.data.create_transform builds (fill, translate, interpolation)."""
    from timm.data import create_transform
    aug = load_config(FinetuneConfig, DEMO_CONFIG).aug
    timm_ops = randaugment_ops(create_transform(96, is_training=True, auto_augment="rand-m7-n2-mstd0.5-inc1",
                                                interpolation="bicubic"))
    ours = randaugment_ops(train_transform(aug, 96, 7.0))
    assert [(op.name, op.kwargs, op.hparams) for op in ours] == [(op.name, op.kwargs, op.hparams) for op in timm_ops]


@pytest.mark.parametrize("decode", ["reduced", "device", "box"])
def test_decode_modes_draw_the_full_paths_boxes_and_flips(decode):
    """With RandAugment on the device, the loader's output of every decode mode is the full path's crop: the same
    boxes and flips (same random numbers), pixels within rounding (device, box: measured at most 0.14 grey levels on
    average over an image) or within the reduced decode's low-pass (reduced: under 3)."""
    import torch
    from engine.data import collate_samples, load_rgb
    from tests.conftest import generated_photos
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.randaug_on=device"]).aug
    full, other = train_transform(aug, 96, 9.0, decode="full"), train_transform(aug, 96, 9.0, decode=decode)
    expected, items = [], []
    for seed, path in enumerate(generated_photos()[:8]):
        random.seed(seed)
        expected.append(full(load_rgb(path)))
        random.seed(seed)
        items.append((other(load_rgb(path, other.transforms[0].decode)), 0, seed, 0))
    expected = torch.stack(expected).float()
    got = collate_samples(items)[0]
    got = (got.decode(torch.device("cpu")) if decode != "reduced" else got).float()
    diff = (expected - got).abs().mean((1, 2, 3))
    assert got.shape == expected.shape == (8, 3, 96, 96)
    if decode == "reduced":
        assert diff.max() < 3.0 and diff.max() > 0.1  # the reduced decode ran for the large boxes
    else:  # as tests/engine/test_device_decode.py: Pillow's fixed point against float, a few sharp edges
        assert diff.mean() < 0.05 and diff.max() < 0.25
    flipped = (expected - got.flip(-1)).abs().mean((1, 2, 3))
    assert (flipped > 5 * diff + 1).sum() >= 6  # the flips agree: a wrong one would be far off


def test_randaugment_on_the_device_is_refused_where_the_order_would_break():
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.randaug_on=loader"]).aug
    with pytest.raises(ValueError, match="data.decode=device crops on the device"):
        train_transform(aug, 64, 4.0, decode="device")
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.randaug_on=device"]).aug
    with pytest.raises(ValueError, match="needs schedule.low_frequency=fft: resize"):
        train_transform(aug, 64, 4.0, 32, "resize")


def test_top_magnitude_posterize_gives_a_black_image_instead_of_a_pillow_error():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    assert not np.asarray(posterize_keeping_zero_bits(image, 0)).any()
    four = np.asarray(posterize_keeping_zero_bits(image, 4))
    np.testing.assert_array_equal(four, np.asarray(image) & 0xF0)  # direct formula: keep the 4 high bits
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.randaug_mstd=0"]).aug
    transform = train_transform(aug, 16, 10.0)  # m=10 maps PosterizeIncreasing to 0 bits
    (posterize_op,) = [op for op in randaugment_ops(transform) if op.name == "PosterizeIncreasing"]
    posterize_op.prob = 1.0  # RandAugment applies each op with p=0.5
    assert not np.asarray(posterize_op(image)).any()
    for _ in range(20):  # every op at the top magnitude runs
        transform(image)


def test_eval_crop_ratio_depends_on_size():
    aug = load_config(FinetuneConfig, DEMO_CONFIG).aug
    assert eval_transform(aug, 224).transforms[0].size == 256  # 224 / 0.875
    assert eval_transform(aug, 384).transforms[0].size == 384  # crop_pct 1.0


def test_the_device_side_batch_step_depends_on_the_sample_keys_alone():
    """RandAugment on the device and random erasing draw from each sample's key: a batch split differently (another
    world size or batch position) gets the same pixels; another seed gets others."""
    import torch
    from curriculum import StageValues
    from finetune.transforms import device_transform
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.reprob=0.5", "aug.randaug_on=device"]).aug
    step = device_transform(aug, "full", "fft", seed=1, device=torch.device("cpu"))
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    keys, values = torch.arange(100, 112), StageValues(0, 32, 5.0, 1.0, 1.0, 1)
    whole = step(images, keys, values)
    parts = torch.cat([step(images[i:i + 5], keys[i:i + 5], values) for i in range(0, 12, 5)])
    torch.testing.assert_close(parts, whole, rtol=0, atol=0)
    plain = (images.float() - torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)) / \
        torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    assert not torch.allclose(whole, plain, atol=1e-3)  # something was augmented or erased
    assert not torch.equal(device_transform(aug, "full", "fft", seed=2, device=torch.device("cpu"))(
        images, keys, values), whole)
