"""Training and evaluation transforms for fine-tuning (timm's ImageNet pipelines, DeiT / MAE settings).

The curriculum's RandAugment magnitude is continuous (EfficientTrain Sec. 4.3: m rises linearly over training).
timm's spec parser reads integer magnitudes only (``auto_augment.py``: ``magnitude = int(val)``), so timm builds the
pipeline from the spec and the float magnitude is then set on each op's public ``AugmentOp.magnitude``, keeping
every other hparam (fill colour, translate constant, ``magnitude_std``) exactly as timm chose it.
"""
from __future__ import annotations

from PIL import Image
from timm.data import create_transform
from timm.data.auto_augment import RandAugment, posterize

from engine.transforms import with_low_frequency

__all__ = ["train_transform", "eval_transform", "posterize_keeping_zero_bits"]


def posterize_keeping_zero_bits(img: Image.Image, bits_to_keep: int, **kwargs) -> Image.Image:
    """timm's posterize, with "keep 0 bits" meaning a black image as in the TF RandAugment reference.

    timm maps the top magnitude (10, reached by ``mstd`` noise around m=9) to 0 bits, which Pillow >= 12 rejects
    ("bits must be between or equal to 1 and 8"); older Pillow returned the all-zero image this reproduces.
    """
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return posterize(img, bits_to_keep, **kwargs)


def train_transform(aug, size: int, magnitude: float, stage_size: int | None = None, low_frequency: str = "fft"):
    """timm's training transform (``aug``: an ``AugConfig``) at ``size`` with RandAugment at the schedule's
    magnitude, and the loader-side low-frequency step to ``stage_size`` (``engine.transforms``). Magnitude 0 keeps
    RandAugment: its magnitude-free ops (AutoContrast, Equalize, Invert) still apply, as in the official
    ``rand-m0-mstd0.5-inc1`` of the first EfficientTrain++ stage."""
    spec = f"rand-m{round(magnitude)}-n{aug.randaug_layers}-mstd{aug.randaug_mstd}-inc1"
    transform = create_transform(size, is_training=True, auto_augment=spec, interpolation="bicubic",
                                 scale=(aug.min_scale, 1.0), re_prob=aug.reprob, re_mode="pixel", color_jitter=None)
    for step in transform.transforms:
        if isinstance(step, RandAugment):
            for op in step.ops:
                op.magnitude = magnitude
                if op.aug_fn is posterize:
                    op.aug_fn = posterize_keeping_zero_bits
    return with_low_frequency(transform, stage_size or size, size, low_frequency)


def eval_transform(aug, size: int):
    """Resize + centre crop: ``aug.crop_pct``, or 0.875 up to 224 px and 1.0 above (DeiT / MAE evaluation)."""
    crop_pct = aug.crop_pct or (0.875 if size <= 224 else 1.0)
    return create_transform(size, is_training=False, interpolation="bicubic", crop_pct=crop_pct)
