"""Fine-tuning transforms: the curriculum's continuous RandAugment magnitude, posterize at the top magnitude."""
import numpy as np
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
    """resize: PIL Lanczos to B right before ToTensor (after RandAugment); fft-loader: the crop after Normalize."""
    import torch
    from curriculum import LowFrequencyCrop
    aug = load_config(FinetuneConfig, DEMO_CONFIG, ["aug.reprob=0.25"]).aug
    names = [type(t).__name__ for t in train_transform(aug, 64, 4.0, 32, "resize").transforms]
    assert names.index("Resize") == names.index("MaybeToTensor") - 1 and names.index("RandAugment") < names.index(
        "Resize")
    steps = train_transform(aug, 64, 4.0, 32, "fft-loader").transforms
    names = [type(t).__name__ for t in steps]
    assert names.index("LowFrequencyCrop") == names.index("Normalize") + 1 < names.index("RandomErasing")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (80, 80, 3), dtype=np.uint8))
    for mode in ("resize", "fft-loader"):
        torch.manual_seed(0)
        assert train_transform(aug, 64, 4.0, 32, mode)(image).shape == (3, 32, 32)
    assert [type(t).__name__ for t in train_transform(aug, 64, 4.0, 32, "fft").transforms] == [
        type(t).__name__ for t in train_transform(aug, 64, 4.0).transforms]
    assert isinstance(steps[names.index("LowFrequencyCrop")], LowFrequencyCrop)


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
