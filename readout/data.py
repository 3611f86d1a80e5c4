"""The labelled images of a readout and their transforms (MAE ``main_linprobe.py``).

Training (linear probe): ``RandomResizedCrop(img_size)`` (bicubic, scale 0.08-1) and a horizontal flip. Evaluation,
the kNN bank and the cached probe's training features: resize to ``img_size / crop_pct`` (bicubic), centre crop
``img_size``. Both end in ImageNet normalisation. Datasets are those of ``finetune.datasets`` (ImageNet-style folders
and the official CIFAR, Flowers-102 and Stanford Dogs layouts), optionally cut to the first N images a class.
"""
from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from torch.utils.data import Dataset

from engine.data import SyntheticImages
from finetune.datasets import build_dataset

from .config import ReadoutData
from .features import per_class_subset

__all__ = ["readout_datasets", "eval_transform", "probe_train_transform", "Transformed"]

BICUBIC = transforms.InterpolationMode.BICUBIC


def _normalise() -> list:
    return [transforms.ToTensor(), transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)]


def eval_transform(img_size: int, crop_pct: float = 0.875, to_tensor: bool = True) -> transforms.Compose:
    """Resize + centre crop (MAE: 256 / 224); ``to_tensor=False`` stops at the cropped PIL image."""
    steps = [transforms.Resize(int(img_size / crop_pct), interpolation=BICUBIC), transforms.CenterCrop(img_size)]
    return transforms.Compose(steps + (_normalise() if to_tensor else []))


def probe_train_transform(img_size: int) -> transforms.Compose:
    return transforms.Compose([transforms.RandomResizedCrop(img_size, interpolation=BICUBIC),
                               transforms.RandomHorizontalFlip(), *_normalise()])


class Transformed(Dataset):
    """``(transform(image), label)`` of every sample of ``dataset`` (which yields PIL images)."""

    def __init__(self, dataset: Dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, label = self.dataset[index][:2]
        return self.transform(image), label


def readout_datasets(cfg: ReadoutData, seed: int = 0):
    """``(train, val)`` without transforms, each cut to ``*_per_class`` images a class when set."""
    if cfg.dataset == "synthetic":
        train = SyntheticImages(cfg.synthetic_length, 64, cfg.synthetic_classes, seed=seed)
        val = SyntheticImages(cfg.synthetic_length // 4, 64, cfg.synthetic_classes, seed=seed + 1)
    else:
        if cfg.path is None:
            raise ValueError(f"data.path is required for data.dataset={cfg.dataset}")
        train = build_dataset(cfg.dataset, cfg.path, cfg.train_split, None, cfg.on_corrupt)
        val = build_dataset(cfg.dataset, cfg.path, cfg.val_split, None, cfg.on_corrupt)
    return per_class_subset(train, cfg.train_per_class), per_class_subset(val, cfg.val_per_class)
