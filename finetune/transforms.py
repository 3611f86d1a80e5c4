"""Training and evaluation transforms for fine-tuning (timm's ImageNet pipelines, DeiT / MAE settings).

Training follows timm's ``transforms_imagenet_train`` in its order: RandomResizedCrop (bicubic), horizontal flip,
RandAugment at the schedule's magnitude, normalisation, random erasing; then the curriculum's low-frequency step to
the stage's size (``schedule.low_frequency``, EfficientTrain Sec. 4.3: augment at the final size, then crop the
spectrum). Where each step runs:

* the crop in the workers, or with ``data.decode=device`` / ``box`` on the training device (``engine.crop``);
* RandAugment in the workers on PIL images (timm's ops), or with ``aug.randaug_on=device`` on the batch on the
  training device (``engine.randaugment``: timm's policy per sample, Pillow's ops within one grey level);
* with ``low_frequency`` ``fft`` or ``resize`` the loader stops at ``uint8``: normalisation and random erasing (timm's
  policy drawn from the sample keys, ``engine.random_erasing``) run on the device, where the float batch is made
  (``device_transform``);
  ``fft-loader`` keeps timm's float pipeline in the workers.

The curriculum's RandAugment magnitude is continuous (EfficientTrain Sec. 4.3: m rises linearly over training).
timm's spec parser reads integer magnitudes only (``auto_augment.py``: ``magnitude = int(val)``), so timm builds the
ops from the spec and the float magnitude is then set on each op's public ``AugmentOp.magnitude``, keeping every
other hparam (fill colour, translate constant, ``magnitude_std``) exactly as ``timm.data.create_transform`` sets it.
"""
from __future__ import annotations

from typing import Callable

import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from timm.data.auto_augment import RandAugment, posterize, rand_augment_transform
from timm.data.random_erasing import RandomErasing
from torchvision import transforms

from curriculum import StageValues
from engine.crop import check_decode, normalize_on_device, random_resized_crop
from engine.device_decode import ON_DEVICE
from engine.random_crop import RandomHorizontalFlip
from engine.random_erasing import KeyedRandomErasing
from engine.randaugment import BatchedRandAugment
from engine.transforms import with_low_frequency

__all__ = ["train_transform", "eval_transform", "device_transform", "randaug_on", "posterize_keeping_zero_bits"]

_FILL = tuple(min(255, round(255 * x)) for x in IMAGENET_DEFAULT_MEAN)  # timm's img_mean hparam


def posterize_keeping_zero_bits(img: Image.Image, bits_to_keep: int, **kwargs) -> Image.Image:
    """timm's posterize, with "keep 0 bits" meaning a black image as in the TF RandAugment reference.

    timm maps the top magnitude (10, reached by ``mstd`` noise around m=9) to 0 bits, which Pillow >= 12 rejects
    ("bits must be between or equal to 1 and 8"); older Pillow returned the all-zero image this reproduces.
    """
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return posterize(img, bits_to_keep, **kwargs)


def randaug_on(aug, decode: str, low_frequency: str) -> str:
    """Where RandAugment runs: ``aug.randaug_on``, or by default on the device when the crop is made there
    (``data.decode`` device / box), else in the loader. Refuses the combinations that would break the order."""
    where = aug.randaug_on or ("device" if decode in ON_DEVICE else "loader")
    if where not in ("loader", "device"):
        raise ValueError(f"aug.randaug_on must be 'loader' or 'device', got {where!r}")
    if where == "loader" and decode in ON_DEVICE:
        raise ValueError(f"data.decode={decode} crops on the device, after the loader: RandAugment must follow it "
                         f"there (aug.randaug_on=device)")
    if where == "device" and low_frequency != "fft":
        raise ValueError(f"aug.randaug_on=device needs schedule.low_frequency=fft: {low_frequency} makes the stage's "
                         f"size in the loader, before the device could augment at the final size")
    return where


def _randaugment(aug, size: int, magnitude: float) -> RandAugment:
    spec = f"rand-m{round(magnitude)}-n{aug.randaug_layers}-mstd{aug.randaug_mstd}-inc1"
    hparams = {"translate_const": int(size * 0.45), "img_mean": _FILL, "interpolation": Image.Resampling.BICUBIC}
    step = rand_augment_transform(spec, hparams)
    for op in step.ops:
        op.magnitude = magnitude
        if op.aug_fn is posterize:
            op.aug_fn = posterize_keeping_zero_bits
    return step


def train_transform(aug, size: int, magnitude: float, stage_size: int | None = None, low_frequency: str = "fft",
                    decode: str = "full") -> transforms.Compose:
    """The loader transform (``aug``: an ``AugConfig``) producing ``size`` images with RandAugment at the
    schedule's magnitude (magnitude 0 keeps RandAugment: its magnitude-free ops AutoContrast, Equalize and Invert
    still apply, as in the official ``rand-m0-mstd0.5-inc1`` of the first EfficientTrain++ stage) and the
    loader-side low-frequency step to ``stage_size`` (``engine.transforms``). What is left to the device, and
    ``uint8`` versus float out, is in the module docstring."""
    check_decode(decode, low_frequency)
    where = randaug_on(aug, decode, low_frequency)
    steps = [random_resized_crop(size, (aug.min_scale, 1.0), transforms.InterpolationMode.BICUBIC, decode)]
    if decode not in ON_DEVICE:  # the device-side crop draws and applies the flip itself
        steps.append(RandomHorizontalFlip())
    if where == "loader":
        steps.append(_randaugment(aug, size, magnitude))
    if low_frequency == "fft-loader":
        steps += [transforms.ToTensor(), transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)]
        if aug.reprob > 0:
            steps.append(RandomErasing(aug.reprob, mode="pixel", device="cpu"))
    elif decode not in ON_DEVICE:
        steps.append(transforms.PILToTensor())
    return with_low_frequency(transforms.Compose(steps), stage_size or size, size, low_frequency)


def device_transform(aug, decode: str, low_frequency: str, seed: int,
                     device: torch.device) -> Callable[[torch.Tensor, torch.Tensor, StageValues], torch.Tensor]:
    """What the training process does to a loader batch before the low-frequency crop: RandAugment when it runs on
    the device, normalisation, random erasing (timm's policy, ``engine.random_erasing``); both draw from the
    samples' keys and ``seed``."""
    augment = BatchedRandAugment(aug.randaug_layers, aug.randaug_mstd, fill=_FILL) \
        if randaug_on(aug, decode, low_frequency) == "device" else None
    erase = KeyedRandomErasing(aug.reprob) if aug.reprob > 0 and low_frequency != "fft-loader" else None

    def apply(images: torch.Tensor, keys: torch.Tensor, values: StageValues) -> torch.Tensor:
        if augment is not None:
            images = augment(images, keys, values.magnitude, seed)
        images = normalize_on_device(images)
        return erase(images, keys, seed) if erase is not None else images

    return apply


def eval_transform(aug, size: int):
    """Resize + centre crop: ``aug.crop_pct``, or 0.875 up to 224 px and 1.0 above (DeiT / MAE evaluation)."""
    crop_pct = aug.crop_pct or (0.875 if size <= 224 else 1.0)
    return create_transform(size, is_training=False, interpolation="bicubic", crop_pct=crop_pct)
