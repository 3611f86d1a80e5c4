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
    assert not [t for t in train_transform(aug, 64, 0.0).transforms if type(t).__name__ == "RandAugment"]


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
