"""MAE pre-training data: decode, RandomResizedCrop and flip at the final size (MAE's ``main_pretrain.py``
transform); the curriculum's low-frequency step follows on the device (``schedule.low_frequency=fft``) or in the
loader (``fft-loader``, ``resize``; ``engine.transforms``)."""
from __future__ import annotations

from pathlib import Path

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from engine.data import ImageFolderDataset, SyntheticImages
from engine.transforms import with_low_frequency

from .config import DataConfig

__all__ = ["build_dataset", "train_transform"]


def train_transform(final_size: int, min_scale: float, size: int | None = None,
                    low_frequency: str = "fft") -> transforms.Compose:
    """The augmentation at ``final_size``, with the loader-side low-frequency step to ``size`` if asked."""
    base = transforms.Compose([
        transforms.RandomResizedCrop(final_size, scale=(min_scale, 1.0),
                                     interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)])
    return with_low_frequency(base, size or final_size, final_size, low_frequency)


def build_dataset(cfg: DataConfig, seed: int):
    """The training images (PIL, no transform: the training loop applies the curriculum's)."""
    if cfg.path is None:
        return SyntheticImages(cfg.synthetic_length, cfg.synthetic_size, seed=seed)
    split = Path(cfg.path) / cfg.split
    if not split.is_dir():
        raise FileNotFoundError(f"data.split={cfg.split!r}: {split} is not a folder; pre-training reads "
                                f"<data.path>/<data.split>/<class>/<image> and never falls back to the whole root")
    return ImageFolderDataset(split, None, cfg.on_corrupt)
