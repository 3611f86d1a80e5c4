"""MAE pre-training data: decode, RandomResizedCrop and flip (MAE's ``main_pretrain.py`` transform), with the
loader's work following the stage:

* ``fft`` (default): the loader stops at a ``uint8`` tensor of the final size; ``engine.crop.normalize_on_device``
  and the batched low-frequency crop run on the device.
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

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from engine.crop import check_decode, random_resized_crop
from engine.data import ImageFolderDataset, SyntheticImages
from engine.device_decode import ON_DEVICE
from engine.random_crop import RandomHorizontalFlip
from engine.transforms import with_low_frequency

from .config import DataConfig

__all__ = ["build_dataset", "train_transform"]


def train_transform(final_size: int, min_scale: float, size: int | None = None, low_frequency: str = "fft",
                    decode: str = "full") -> transforms.Compose:
    """The loader transform of a stage at size ``size`` (see the module docstring for what each mode returns)."""
    size = size or final_size
    bicubic, lanczos = transforms.InterpolationMode.BICUBIC, transforms.InterpolationMode.LANCZOS
    check_decode(decode, low_frequency)

    def crop(out: int, interpolation):
        return random_resized_crop(out, (min_scale, 1.0), interpolation, decode)

    def to_uint8(step) -> transforms.Compose:
        rest = [] if decode in ON_DEVICE else [RandomHorizontalFlip(), transforms.PILToTensor()]
        return transforms.Compose([step, *rest])

    if low_frequency == "resize":
        return to_uint8(crop(size, lanczos if size < final_size else bicubic))
    if low_frequency == "fft":
        return to_uint8(crop(final_size, bicubic))
    base = transforms.Compose([
        crop(final_size, bicubic),
        RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)])
    return with_low_frequency(base, size, final_size, low_frequency)


def build_dataset(cfg: DataConfig, seed: int):
    """The training images (PIL, no transform: the training loop applies the curriculum's)."""
    if cfg.path is None:
        return SyntheticImages(cfg.synthetic_length, cfg.synthetic_size, seed=seed)
    split = Path(cfg.path) / cfg.split
    if not split.is_dir():
        raise FileNotFoundError(f"data.split={cfg.split!r}: {split} is not a folder; pre-training reads "
                                f"<data.path>/<data.split>/<class>/<image> and never falls back to the whole root")
    return ImageFolderDataset(split, None, cfg.on_corrupt)
