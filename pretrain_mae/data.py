"""MAE pre-training data: decode, RandomResizedCrop and flip at the final size; the curriculum's low-frequency
crop follows on the device in batch (default) or per image in the loader (``data.crop_on=loader``)."""
from __future__ import annotations

from pathlib import Path

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from curriculum import LowFrequencyCrop
from engine.data import ImageFolderDataset, SeededSamples, SyntheticImages

from .config import DataConfig

__all__ = ["build_dataset", "train_transform"]


def train_transform(final_size: int, min_scale: float, loader_crop: int | None = None) -> transforms.Compose:
    steps = [transforms.RandomResizedCrop(final_size, scale=(min_scale, 1.0),
                                          interpolation=transforms.InterpolationMode.BICUBIC),
             transforms.RandomHorizontalFlip(),
             transforms.ToTensor(),
             transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)]
    if loader_crop is not None and loader_crop < final_size:
        steps.append(LowFrequencyCrop(loader_crop))
    return transforms.Compose(steps)


def build_dataset(cfg: DataConfig, final_size: int, seed: int) -> SeededSamples:
    """The training set wrapped for per-sample seeding; its transform is replaced when a stage needs it."""
    transform = train_transform(final_size, cfg.min_scale)
    if cfg.path is None:
        dataset = SyntheticImages(cfg.synthetic_length, cfg.synthetic_size, transform=transform, seed=seed)
    else:
        root = Path(cfg.path)
        split = root / cfg.split
        dataset = ImageFolderDataset(split if split.is_dir() else root, transform, cfg.on_corrupt)
    return SeededSamples(dataset, seed)
