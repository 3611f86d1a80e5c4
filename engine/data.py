"""Datasets shared by the trainers: ImageNet-style folders, a generated demo set, per-sample seeding, loaders.

* ``ImageFolderDataset`` reads ``root/<class>/<image>``, converts every image (grayscale, CMYK, palette) to RGB and
  never drops a file silently: an unreadable image raises ``CorruptImageError`` naming its path, or, with
  ``on_corrupt="skip"``, is replaced by the next readable one, logged by path and counted in the sample's
  ``skipped`` field so the trainer can report the total.
* ``SyntheticImages`` generates a small, deterministic, class-structured image set so the demos run with no data.
* ``CurriculumBatchSampler`` and ``CurriculumSamples`` bring the curriculum to the data as data: the sampler yields,
  for every optimisation step of a ``curriculum.StepPlan``, the step's fresh samples as ``(index, pass, step)``
  requests read from one stream of per-pass permutations (split across ranks); the dataset builds the transform for
  that step's stage values (``make_transform(values)``) and seeds the augmentation from ``(seed, pass, index)``
  alone. Nothing is mutated at a stage switch, so one loader with persistent workers serves the whole run, and a
  run is reproducible across resumption, worker counts and world sizes.
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, default_collate
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from curriculum import StageValues, StepPlan

from .distributed import DistInfo
from .preempt import worker_signals
from .runtime import worker_nice

__all__ = ["UNREADABLE", "CorruptImageError", "check_on_corrupt", "ImageFolderDataset", "SyntheticImages",
           "CurriculumSamples", "CurriculumBatchSampler", "Sample", "make_eval_loader", "make_train_loader",
           "sample_key"]

log = logging.getLogger(__name__)
Sample = tuple  # (image, target, index, skipped)


def check_on_corrupt(on_corrupt: str) -> None:
    """``data.on_corrupt``: ``error`` stops at an unreadable image naming it, ``skip`` replaces, logs and counts it."""
    if on_corrupt not in ("error", "skip"):
        raise ValueError(f"on_corrupt must be 'error' or 'skip', got {on_corrupt!r}")


class CorruptImageError(RuntimeError):
    """An image file that cannot be decoded, named by path (``reason`` omitted: ``path`` is the whole message, as
    torch rebuilds an error raised in a loader worker)."""

    def __init__(self, path: str | Path, reason: str | None = None):
        super().__init__(f"unreadable image {path}: {reason}" if reason is not None else str(path))
        self.path = str(path)


UNREADABLE = (OSError, UnidentifiedImageError, ValueError, SyntaxError)  # what Pillow raises for a file it cannot read


def _decode_rgb(image: Image.Image) -> Image.Image:
    image.load()
    return image.convert("RGB")


def load_rgb(path: str | Path, decode: Callable[[Image.Image], object] = _decode_rgb):
    """Decode an image file (fully, as RGB, unless ``decode`` is given: it receives the opened file before anything
    is decoded, e.g. ``engine.decode.RandomResizedCropDecode.decode``), or raise ``CorruptImageError`` naming it."""
    try:
        with Image.open(path) as image:
            return decode(image)
    except UNREADABLE as err:
        raise CorruptImageError(path, str(err)) from err


class LabelledImages(Dataset):
    """A list of ``(path, target)`` pairs decoded with ``load_rgb``; subclasses fill ``samples`` and ``classes``."""

    def __init__(self, samples: list[tuple[str, int]], classes: list[str], transform: Callable | None = None,
                 on_corrupt: str = "error"):
        check_on_corrupt(on_corrupt)
        if not samples:
            raise ValueError("the dataset is empty")
        self.samples, self.classes, self.transform, self.on_corrupt = samples, classes, transform, on_corrupt
        self.cache = None  # an engine.decoded_cache.DecodedCache of the files, if one is attached

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        image, target, index, skipped = self.read(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, target, index, skipped

    def read(self, index: int, decode: Callable[[Image.Image], object] = _decode_rgb,
             decode_cached: Callable | None = None) -> Sample:
        """Sample ``index`` decoded by ``decode`` (see ``load_rgb``), without the transform; from the cache's pixels
        by ``decode_cached(cached, load)`` when both exist (``load(decode)`` reads the file)."""
        skipped = 0
        while True:
            at = (index + skipped) % len(self.samples)
            path, target = self.samples[at]
            cached = self.cache[at] if self.cache is not None and decode_cached is not None else None
            try:
                image = load_rgb(path, decode) if cached is None else decode_cached(cached, partial(load_rgb, path))
                break
            except CorruptImageError as err:
                if self.on_corrupt == "error" or skipped + 1 >= len(self.samples):
                    raise
                log.warning("skipping %s", err)
                skipped += 1
        return image, target, index, skipped


class ImageFolderDataset(LabelledImages):
    """``root/<class>/<image>`` in the torchvision/ImageNet layout."""

    def __init__(self, root: str | Path, transform: Callable | None = None, on_corrupt: str = "error"):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"image folder not found: {root} (expected {root}/<class>/<image files>)")
        classes, class_to_idx = find_classes(str(root))
        samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS)
        super().__init__(samples, classes, transform, on_corrupt)
        self.root = root


class SyntheticImages(Dataset):
    """Deterministic generated images: class ``c`` is an oriented grating with coloured blobs, plus noise."""

    def __init__(self, length: int = 512, size: int = 64, num_classes: int = 10, transform: Callable | None = None,
                 seed: int = 0):
        self.length, self.size, self.num_classes, self.transform, self.seed = length, size, num_classes, transform, seed
        self.classes = [f"synthetic_{c}" for c in range(num_classes)]

    def __len__(self) -> int:
        return self.length

    def image(self, index: int) -> Image.Image:
        rng = np.random.default_rng([self.seed, index])
        c = index % self.num_classes
        y, x = np.mgrid[0:self.size, 0:self.size] / self.size
        angle = np.pi * c / self.num_classes
        freq = 2 + (c % 4) * 2
        grating = np.sin(2 * np.pi * freq * (x * np.cos(angle) + y * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
        colour = np.array([np.cos(angle), np.sin(angle), (c % 3) / 2])[:, None, None]
        image = 0.5 + 0.25 * grating[None] * colour
        for _ in range(3):
            cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.2)
            blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
            image += 0.3 * blob[None] * rng.uniform(-1, 1, (3, 1, 1))
        image += rng.normal(0, 0.03, image.shape)
        return Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))

    def __getitem__(self, index: int) -> Sample:
        image = self.image(index)
        return (self.transform(image) if self.transform else image), index % self.num_classes, index, 0


def sample_key(index: int, pass_: int, dataset_size: int) -> int:
    """A unique int64 key per (pass over the data, sample): masks and augmentation depend on it alone."""
    return pass_ * dataset_size + index


class CurriculumSamples(Dataset):
    """``dataset`` (yielding PIL images) read through ``(index, pass, step)`` requests of ``CurriculumBatchSampler``.

    The transform of a request is ``make_transform(plan.values(step))`` (rebuilt only when the size or the
    RandAugment magnitude changes); its randomness is seeded from ``(seed, pass, index)``. When its first step has
    a ``decode`` method (``engine.decode``) and the dataset reads files (``read``), that step decodes the opened
    file itself, or crops the dataset's cached pixels (``decode_cached``, ``engine.decoded_cache``). Items are
    ``(image, target, key, skipped)`` with ``key = sample_key(index, pass)``.
    """

    def __init__(self, dataset: Dataset, seed: int, plan: StepPlan, make_transform: Callable[[StageValues], Callable]):
        if getattr(dataset, "transform", None) is not None:
            raise ValueError("CurriculumSamples applies the curriculum's transform; give it a dataset without one")
        self.dataset, self.seed, self.plan, self.make_transform = dataset, seed, plan, make_transform
        self._transform_key, self._transform = None, None

    def __len__(self) -> int:
        return len(self.dataset)

    def transform_for(self, step: int) -> Callable:
        values = self.plan.values(step)
        key = (values.size, round(values.magnitude, 2))
        if key != self._transform_key:
            self._transform, self._transform_key = self.make_transform(values), key
        return self._transform

    def __getitem__(self, request: tuple[int, int, int]) -> Sample:
        index, pass_, step = request
        transform = self.transform_for(step)
        seed = (self.seed * 1_000_003 + pass_) * 10_000_019 + index
        with _seeded_globals() if torch.utils.data.get_worker_info() is None else contextlib.nullcontext():
            torch.default_generator.manual_seed(seed)  # not torch.manual_seed: it also queues a seed for every
            random.seed(seed)                          # accelerator, formatting the stack each time (1.6 ms here)
            np.random.seed(seed % 2 ** 32)
            first = getattr(transform, "transforms", [transform])[0]
            decode = getattr(first, "decode", None)
            if decode is not None and hasattr(self.dataset, "read"):
                image, target, _, skipped = self.dataset.read(index, decode, getattr(first, "decode_cached", None))
            else:
                image, target, _, skipped = self.dataset[index]
            image = transform(image)
        return image, target, sample_key(index, pass_, len(self.dataset)), skipped


@contextlib.contextmanager
def _seeded_globals():
    """Restore torch's, Python's and NumPy's global generators after a sample seeded them in the main process (a
    loader worker's generators serve its samples alone, and saving NumPy's state took 70 us of a 1 ms sample)."""
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])


class CurriculumBatchSampler(Sampler):
    """The fresh samples of every step from ``start_step`` on, for ``rank``: a stream of per-pass permutations
    seeded by ``(seed, pass)``; step ``s`` reads stream positions ``plan.stream_offset(s) + rank * fresh`` onwards."""

    def __init__(self, plan: StepPlan, dataset_size: int, seed: int, rank: int = 0, start_step: int = 0):
        self.plan, self.size, self.seed, self.rank, self.start_step = plan, dataset_size, seed, rank, start_step

    def __len__(self) -> int:
        return self.plan.total_steps - self.start_step

    def permutation(self, pass_: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + pass_)
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self):
        cached, order = -1, []
        for step in range(self.start_step, self.plan.total_steps):
            stage = self.plan.stage_at(step)
            first = self.plan.stream_offset(step) + self.rank * stage.fresh
            batch = []
            for position in range(first, first + stage.fresh):
                pass_ = position // self.size
                if pass_ != cached:
                    cached, order = pass_, self.permutation(pass_)
                batch.append((order[position % self.size], pass_, step))
            yield batch


def collate_samples(batch: list[Sample]):
    """torch's ``default_collate``, unless the images are of a type with its own ``collate`` (e.g.
    ``engine.device_decode.Encoded``, whose batch is decoded on the device)."""
    collate = getattr(type(batch[0][0]), "collate", None)
    return collate(batch) if collate is not None else default_collate(batch)


def make_train_loader(samples: CurriculumSamples, info: DistInfo, seed: int, num_workers: int,
                      start_step: int = 0) -> DataLoader:
    """One loader for the whole curriculum (persistent workers), starting at ``start_step``."""
    sampler = CurriculumBatchSampler(samples.plan, len(samples), seed, info.rank, start_step)
    return DataLoader(samples, batch_sampler=sampler, num_workers=num_workers, pin_memory=info.device.type == "cuda",
                      collate_fn=collate_samples,
                      persistent_workers=num_workers > 0, prefetch_factor=4 if num_workers > 0 else None,
                      worker_init_fn=partial(_init_worker, worker_nice(info.device)),
                      generator=torch.Generator().manual_seed(seed))  # never draws from the global RNG


def make_eval_loader(dataset: Dataset, batch_size: int, info: DistInfo, num_workers: int) -> DataLoader:
    """Evaluation in order, split across ranks (DistributedSampler pads the last ranks with repeated samples)."""
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=info.device.type == "cuda", persistent_workers=num_workers > 0,
                      worker_init_fn=partial(_init_worker, worker_nice(info.device)))


def _init_worker(nice: int, worker_id: int) -> None:
    """A loader worker: stop signals left to the main process (``engine.preempt``), its priority lowered by
    ``nice`` (``engine.runtime.worker_nice``)."""
    worker_signals(worker_id)
    if nice:
        os.nice(nice)
