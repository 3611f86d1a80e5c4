"""Classification datasets in their official on-disk layouts; nothing is downloaded.

| name | layout under ``root`` | splits |
|---|---|---|
| ``imagefolder`` | ``<split>/<class>/<image>`` (ImageNet, or CIFAR/any set exported to folders) | any folder name |
| ``cifar10`` | ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` (python pickles) | train, test |
| ``cifar100`` | ``cifar-100-python/{train,test,meta}``, fine labels | train, test |
| ``flowers102`` | ``jpg/image_%05d.jpg``, ``imagelabels.mat``, ``setid.mat`` (Oxford split) | train, val, test |
| ``stanford_dogs`` | ``Images/<breed>/<image>.jpg``, ``lists/{train,test}_list.mat`` | train, test |

Every sample is ``(image, target, index, skipped)`` as in ``engine.data``; a missing file raises
``FileNotFoundError`` that names what to put where.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from engine.data import ImageFolderDataset, LabelledImages

__all__ = ["build_dataset", "DATASETS", "ArrayImages"]


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: expected {path}")
    return path


class ArrayImages(Dataset):
    """In-memory ``uint8`` images ``[N, H, W, 3]`` with integer labels (CIFAR)."""

    def __init__(self, images: np.ndarray, labels: list[int], classes: list[str], transform: Callable | None = None):
        self.images, self.targets, self.classes, self.transform = images, labels, classes, transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index])
        return (self.transform(image) if self.transform else image), self.targets[index], index, 0


def _unpickle(path: Path) -> dict:
    with open(_require(path, "CIFAR batch file"), "rb") as handle:
        return pickle.load(handle, encoding="bytes")


def _cifar(root: Path, split: str, transform, hundred: bool) -> ArrayImages:
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR has splits 'train' and 'test', got {split!r}")
    if hundred:
        base = _require(root / "cifar-100-python", "CIFAR-100 folder (the extracted cifar-100-python.tar.gz)")
        batches = [_unpickle(base / split)]
        classes = [c.decode() for c in _unpickle(base / "meta")[b"fine_label_names"]]
        label_key = b"fine_labels"
    else:
        base = _require(root / "cifar-10-batches-py", "CIFAR-10 folder (the extracted cifar-10-python.tar.gz)")
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        batches = [_unpickle(base / n) for n in names]
        classes = [c.decode() for c in _unpickle(base / "batches.meta")[b"label_names"]]
        label_key = b"labels"
    data = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    labels = [int(label) for b in batches for label in b[label_key]]
    return ArrayImages(np.ascontiguousarray(data), labels, classes, transform)


def _loadmat(path: Path, what: str) -> dict:
    from scipy.io import loadmat

    return loadmat(str(_require(path, what)))


def _flowers(root: Path, split: str, transform, on_corrupt: str) -> LabelledImages:
    keys = {"train": "trnid", "val": "valid", "test": "tstid"}
    if split not in keys:
        raise ValueError(f"Flowers-102 has splits {sorted(keys)}, got {split!r}")
    labels = _loadmat(root / "imagelabels.mat", "Flowers-102 labels (imagelabels.mat)")["labels"].ravel()
    ids = _loadmat(root / "setid.mat", "Flowers-102 split (setid.mat)")[keys[split]].ravel()
    images = _require(root / "jpg", "Flowers-102 image folder (jpg/)")
    samples = [(str(images / f"image_{i:05d}.jpg"), int(labels[i - 1]) - 1) for i in ids]
    return LabelledImages(samples, [f"flower_{c}" for c in range(1, 103)], transform, on_corrupt)


def _dogs(root: Path, split: str, transform, on_corrupt: str) -> LabelledImages:
    if split not in ("train", "test"):
        raise ValueError(f"Stanford Dogs has splits 'train' and 'test', got {split!r}")
    lists = _loadmat(root / "lists" / f"{split}_list.mat", f"Stanford Dogs list (lists/{split}_list.mat)")
    images = _require(root / "Images", "Stanford Dogs image folder (Images/)")
    files = [str(f[0][0]) if isinstance(f[0], np.ndarray) else str(f[0]) for f in lists["file_list"]]
    labels = [int(label) - 1 for label in np.asarray(lists["labels"]).ravel()]
    classes = sorted({f.split("/")[0] for f in files})
    return LabelledImages([(str(images / f), t) for f, t in zip(files, labels)], classes, transform, on_corrupt)


def _folder(root: Path, split: str, transform, on_corrupt: str) -> ImageFolderDataset:
    return ImageFolderDataset(root / split, transform, on_corrupt)


DATASETS = {
    "imagefolder": _folder,
    "cifar10": lambda root, split, transform, on_corrupt: _cifar(root, split, transform, hundred=False),
    "cifar100": lambda root, split, transform, on_corrupt: _cifar(root, split, transform, hundred=True),
    "flowers102": _flowers,
    "stanford_dogs": _dogs,
}


def build_dataset(name: str, root: str | Path, split: str, transform: Callable | None = None,
                  on_corrupt: str = "error") -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found: {root}")
    return DATASETS[name](root, split, transform, on_corrupt)
