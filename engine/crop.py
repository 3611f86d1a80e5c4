"""The loader's RandomResizedCrop for each ``data.decode`` mode, shared by the trainers, and the batch's
normalisation on the training device.

Both trainers crop first (MAE ``main_pretrain.py``; timm ``transforms_imagenet_train`` for fine-tuning), so the
decode mode is the crop step's choice alone:

* ``full``: torchvision's ``RandomResizedCrop`` on the fully decoded image, its box drawn as timm draws it
  (``engine.random_crop``);
* ``reduced``: the same boxes with the JPEG decoded at 1/2-1/8 scale when the box allows (``engine.decode``);
* ``device`` / ``box``: the worker draws the box and the flip, the training process decodes (nvJPEG on a GPU,
  batched libjpeg-turbo on the CPU) or only resamples (``box``) the batch (``engine.device_decode``).

Loaders then stop at ``uint8`` tensors and ``normalize_on_device`` makes the float batch where the model runs: a
quarter of the bytes to move and no per-image float work in the workers. Normalisation is per-channel affine and the
low-frequency crop linear, so this order changes no pixel.
"""
from __future__ import annotations

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from .decode import RandomResizedCropDecode
from .device_decode import ON_DEVICE, EncodedCrop
from .random_crop import RandomResizedCrop

__all__ = ["DECODE_MODES", "check_decode", "random_resized_crop", "normalize_on_device"]

DECODE_MODES = ("full", "reduced", "device", "box")


def check_decode(decode: str, low_frequency: str) -> None:
    """Refuse a ``data.decode`` value that is unknown or that cannot serve ``schedule.low_frequency``."""
    if decode not in DECODE_MODES:
        raise ValueError(f"data.decode must be one of {DECODE_MODES}, got {decode!r}")
    if decode in ON_DEVICE and low_frequency == "fft-loader":
        raise ValueError(f"data.decode={decode} needs schedule.low_frequency fft or resize: fft-loader crops every "
                         f"image in the loader workers, after decoding")


def random_resized_crop(size: int, scale: tuple[float, float], interpolation: transforms.InterpolationMode,
                        decode: str = "full"):
    """The crop step of ``decode`` mode; with ``device`` / ``box`` it also draws the horizontal flip, which the
    training process then carries out (the other modes leave the flip to the next step)."""
    if decode == "reduced":
        return RandomResizedCropDecode(size, scale=scale, interpolation=interpolation)
    if decode in ON_DEVICE:
        return EncodedCrop(size, scale=scale, interpolation=interpolation, decode=decode)
    return RandomResizedCrop(size, scale=scale, interpolation=interpolation)


def normalize_on_device(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` batches from the loader to normalised float (ImageNet mean / std); float batches pass through."""
    if images.dtype != torch.uint8:
        return images
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std
