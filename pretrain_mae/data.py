"""MAE pre-training data: decode, RandomResizedCrop and flip (MAE's ``main_pretrain.py`` transform), with the
loader's work following the stage:

* ``fft`` (default): the loader stops at a ``uint8`` tensor of the final size (no float conversion or normalisation
  on the CPU, a quarter of the bytes to transfer); ``normalize_on_device`` and the batched low-frequency crop run on
  the device. Normalisation is per-channel affine and the crop is linear and keeps constants, so the order does not
  change a pixel.
* ``resize``: RandomResizedCrop straight to ``B`` with Lanczos (one resampling instead of bicubic to the final size
  then Lanczos to ``B``; no RandAugment sits between them in MAE), ``uint8`` out.
* ``fft-loader``: the float pipeline with the crop per image in the workers (``engine.transforms``).

With ``data.decode=reduced`` the RandomResizedCrop decodes a JPEG at 1/2, 1/4 or 1/8 scale when its box is at least
that many times the output size (``engine.decode``): the same boxes, slightly different pixels. With
``data.decode=device`` (``fft`` or ``resize``) the workers only read the files and draw the boxes and flips; the
training process decodes the batch (nvJPEG on a GPU) and crops, resamples and flips it there
(``engine.device_decode``): the same boxes and flips, pixels within rounding of ``full``. With ``data.decode=box``
the workers decode (Pillow) and cut out the box, and the device resamples and flips it: the same pixels as
``device`` without nvJPEG (for GPUs without a hardware JPEG decoder, where torchvision's decodes one image at a
time), and the workers' share of a sample without the resampling.
"""
from __future__ import annotations

from pathlib import Path

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from engine.data import ImageFolderDataset, SyntheticImages
from engine.decode import RandomResizedCropDecode
from engine.device_decode import ON_DEVICE, EncodedCrop
from engine.transforms import with_low_frequency

from .config import DataConfig

__all__ = ["build_dataset", "train_transform", "normalize_on_device"]


def train_transform(final_size: int, min_scale: float, size: int | None = None, low_frequency: str = "fft",
                    decode: str = "full") -> transforms.Compose:
    """The loader transform of a stage at size ``size`` (see the module docstring for what each mode returns)."""
    size = size or final_size
    bicubic, lanczos = transforms.InterpolationMode.BICUBIC, transforms.InterpolationMode.LANCZOS
    if decode not in ("full", "reduced", "device", "box"):
        raise ValueError(f"decode must be 'full', 'reduced', 'device' or 'box', got {decode!r}")
    on_device = decode in ON_DEVICE  # the crop's resampling and the flip are done on the training device
    if on_device and low_frequency == "fft-loader":
        raise ValueError(f"data.decode={decode} needs schedule.low_frequency fft or resize: fft-loader crops every "
                         f"image in the loader workers, after decoding")

    def crop(out: int, interpolation):
        if decode == "reduced":
            return RandomResizedCropDecode(out, scale=(min_scale, 1.0), interpolation=interpolation)
        if on_device:  # the flip is drawn with the box; both are carried out on the device
            return EncodedCrop(out, scale=(min_scale, 1.0), interpolation=interpolation, decode=decode)
        return transforms.RandomResizedCrop(out, scale=(min_scale, 1.0), interpolation=interpolation)

    def to_uint8(step) -> transforms.Compose:
        rest = [] if on_device else [transforms.RandomHorizontalFlip(), transforms.PILToTensor()]
        return transforms.Compose([step, *rest])

    if low_frequency == "resize":
        return to_uint8(crop(size, lanczos if size < final_size else bicubic))
    if low_frequency == "fft":
        return to_uint8(crop(final_size, bicubic))
    base = transforms.Compose([
        crop(final_size, bicubic),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)])
    return with_low_frequency(base, size, final_size, low_frequency)


def normalize_on_device(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` batches from the loader to normalised float (ImageNet mean / std); float batches pass through."""
    if images.dtype != torch.uint8:
        return images
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std


def build_dataset(cfg: DataConfig, seed: int):
    """The training images (PIL, no transform: the training loop applies the curriculum's)."""
    if cfg.path is None:
        return SyntheticImages(cfg.synthetic_length, cfg.synthetic_size, seed=seed)
    split = Path(cfg.path) / cfg.split
    if not split.is_dir():
        raise FileNotFoundError(f"data.split={cfg.split!r}: {split} is not a folder; pre-training reads "
                                f"<data.path>/<data.split>/<class>/<image> and never falls back to the whole root")
    return ImageFolderDataset(split, None, cfg.on_corrupt)
