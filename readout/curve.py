"""A kNN curve while a backbone trains: representation quality against wall time and computation.

Self-supervised libraries watch a run with an online kNN (lightly's ``BenchmarkModule``, solo-learn's ``knn``); MAE
has none ("we just take the last epoch model", facebookresearch/mae #71). ``KNNMonitor`` makes that curve cheap: a
fixed labelled bank and validation set (the first N images a class) are decoded, resized and centre-cropped at the
final size once, kept as ``uint8`` (each process its shard), and every evaluation is only the encoder's forward
pass over them plus ``readout.knn``. Its ``eval:`` config section:

| key | meaning |
|---|---|
| ``path`` | an ImageNet-style root with ``train_split`` / ``val_split`` class folders; null: no curve |
| ``bank_per_class``, ``val_per_class`` | images a class in the bank and in the validation set (100 and 50) |
| ``every`` | epochs between evaluations; there is one at the end of every stage and of the run too |
| ``k``, ``tau``, ``pools`` | ``readout.knn``'s k (20, 200), temperature (0.07) and features (``cls``, ``avg``) |
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from engine.distributed import DistInfo, all_gather_rows

from .config import ReadoutData
from .data import Transformed, eval_transform, readout_datasets
from .features import POOLS, extract_features, shard_loader
from .knn import knn_accuracy

__all__ = ["EvalConfig", "KNNMonitor"]


@dataclass
class EvalConfig:
    path: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    bank_per_class: int | None = 100
    val_per_class: int | None = 50
    every: int = 5
    k: list[int] = field(default_factory=lambda: [20, 200])
    tau: float = 0.07
    pools: list[str] = field(default_factory=lambda: ["cls", "avg"])
    crop_pct: float = 0.875
    batch_size: int = 256
    num_workers: int = 2


class KNNMonitor:
    """The bank and validation images of ``cfg`` at ``img_size``, decoded once; calling it evaluates an encoder."""

    def __init__(self, cfg: EvalConfig, info: DistInfo, img_size: int, report: Callable[[str], None] | None = None):
        if cfg.every < 1:
            raise ValueError(f"eval.every must be >= 1 epoch, got {cfg.every}")
        if not cfg.pools or set(cfg.pools) - set(POOLS):
            raise ValueError(f"eval.pools must be among {list(POOLS)}, got {cfg.pools}")
        started = time.perf_counter()
        self.cfg, self.info = cfg, info
        data = ReadoutData(path=cfg.path, train_split=cfg.train_split, val_split=cfg.val_split,
                           train_per_class=cfg.bank_per_class, val_per_class=cfg.val_per_class)
        try:
            bank, val = readout_datasets(data)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"eval.path={cfg.path}: {err} (the labelled images of the kNN curve; "
                                    f"--set eval.path=null runs without the curve)") from None
        self.num_classes = len(bank.classes)
        to_uint8 = transforms.Compose([eval_transform(img_size, cfg.crop_pct, to_tensor=False),
                                       transforms.PILToTensor()])
        self.bank = self._decode(Transformed(bank, to_uint8))
        self.val = self._decode(Transformed(val, to_uint8))
        self.setup_time = time.perf_counter() - started
        if report is not None:
            size = sum(t.numel() * t.element_size() for part in (self.bank, self.val) for t in part) / 2 ** 20
            report(f"kNN curve: {len(bank)} bank and {len(val)} validation images of {self.num_classes} classes at "
                   f"{img_size} px, decoded once in {self.setup_time:.1f} s ({size:.0f} MB on this process); "
                   f"k {cfg.k}, tau {cfg.tau:g}, {'/'.join(cfg.pools)} features, every {cfg.every} epochs and at "
                   f"the end of every stage")

    def _decode(self, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for batch, target in shard_loader(dataset, self.info, self.cfg.batch_size, self.cfg.num_workers):
            images.append(batch)
            labels.append(torch.as_tensor(target))
        if not images:
            return torch.zeros(0, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
        return torch.cat(images), torch.cat(labels)

    def due(self, record: dict) -> bool:
        """Every ``every`` epochs, and at a record in which a stage (or the run) ends."""
        return (record["epoch"] + 1) % self.cfg.every == 0 or bool(record.get("stage_end"))

    def __call__(self, model: torch.nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor],
                 amp_dtype: torch.dtype | None = None) -> dict[str, float]:
        """``{"knn/<pool>_k<k>": top-1 %}`` of ``model``; ``prepare`` turns a ``uint8`` batch on the device into the
        model's input (e.g. normalises it)."""
        device = self.info.device
        threads = torch.get_num_threads()
        if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(os.cpu_count() or 1)  # the loader workers wait with their queue full meanwhile
        try:
            return self._evaluate(model, prepare, amp_dtype)
        finally:
            torch.set_num_threads(threads)

    def _evaluate(self, model, prepare, amp_dtype) -> dict[str, float]:
        device = self.info.device

        def features(part):
            loader = DataLoader(TensorDataset(*part), batch_size=self.cfg.batch_size)
            return extract_features(model, loader, self.cfg.pools, device, amp_dtype, prepare)

        bank, bank_labels = features(self.bank)
        queries, query_labels = features(self.val)
        query_labels = all_gather_rows(query_labels, self.info)
        out = {}
        for pool in self.cfg.pools:
            accuracy = knn_accuracy(bank[pool], bank_labels, all_gather_rows(queries[pool], self.info),
                                    query_labels, self.num_classes, self.cfg.k, self.cfg.tau,
                                    distributed=self.info.distributed)
            out.update({f"knn/{pool}_k{k}": round(value, 3) for k, value in accuracy.items()})
        return out
