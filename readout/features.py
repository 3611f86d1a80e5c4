"""The features a readout sees: a frozen encoder's class token or average-pooled tokens, extracted in order.

For a ViT (a ``cls_token`` and a final ``norm``), as MAE's ``models_vit.py`` defines them for the linear probe:

* ``cls``: the class token after the final LayerNorm (``global_pool=False``, MAE's default ``--cls_token``);
* ``avg``: the patch tokens before the final norm, averaged, then a LayerNorm without affine parameters (MAE's
  ``global_pool=True``: ``fc_norm`` is new, so frozen at weight 1 and bias 0 during the probe; eps 1e-6).

Both come from one forward pass (a hook on ``norm`` reads its input and output). A model without a class token (a
timm CNN) has one feature, its own pooled ``pre_logits``, offered as ``avg``.

``extract_features`` reads a dataset in order on this process's shard ``rank::world_size`` (no sample is repeated,
unlike ``DistributedSampler``'s padding) and returns the features with their labels.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from engine.distributed import DistInfo, all_gather_rows

__all__ = ["POOLS", "is_vit", "feature_dim", "check_pools", "pooled_features", "extract_features", "shard_loader",
           "labels_of", "per_class_subset", "dataset_features"]

POOLS = ("cls", "avg")


def is_vit(model: nn.Module) -> bool:
    return getattr(model, "cls_token", None) is not None and isinstance(getattr(model, "norm", None), nn.Module)


def feature_dim(model: nn.Module) -> int:
    """The width of a model's pooled features (timm's ``num_features``, else ``embed_dim``)."""
    return int(getattr(model, "num_features", None) or model.embed_dim)


def check_pools(model: nn.Module, pools: Iterable[str]) -> tuple[str, ...]:
    pools = tuple(pools)
    unknown = [p for p in pools if p not in POOLS]
    if unknown or not pools:
        raise ValueError(f"feature pool must be among {list(POOLS)}, got {list(pools)}")
    if "cls" in pools and not is_vit(model):
        raise ValueError(f"{type(model).__name__} has no class token: use pool avg (its own pooled features)")
    return pools


def pooled_features(model: nn.Module, images: torch.Tensor, pools: Iterable[str] = ("cls",)) -> dict[str, torch.Tensor]:
    """``{pool: [N, D]}`` for ``images`` (the caller sets eval mode and no_grad)."""
    pools = check_pools(model, pools)
    if not is_vit(model):
        return {"avg": model.forward_head(model.forward_features(images), pre_logits=True)}
    seen = {}
    handle = model.norm.register_forward_hook(lambda module, args, out: seen.update(tokens=args[0], normed=out))
    try:
        model.forward_features(images)
    finally:
        handle.remove()
    out = {}
    if "cls" in pools:
        out["cls"] = seen["normed"][:, 0]
    if "avg" in pools:
        pooled = seen["tokens"][:, getattr(model, "num_prefix_tokens", 1):].mean(1)
        out["avg"] = F.layer_norm(pooled.float(), pooled.shape[-1:], eps=1e-6).to(pooled.dtype)
    return out


def labels_of(dataset: Dataset) -> list[int]:
    """Every sample's class, without decoding an image."""
    if hasattr(dataset, "targets"):
        return [int(t) for t in dataset.targets]
    if hasattr(dataset, "samples"):
        return [int(t) for _, t in dataset.samples]
    if hasattr(dataset, "num_classes"):  # engine.data.SyntheticImages
        return [i % dataset.num_classes for i in range(len(dataset))]
    raise TypeError(f"cannot read the labels of {type(dataset).__name__}")


def per_class_subset(dataset: Dataset, per_class: int | None) -> Dataset:
    """The first ``per_class`` samples of every class, in dataset order (all of them for ``None``)."""
    if per_class is None:
        return dataset
    labels = labels_of(dataset)
    taken: dict[int, int] = {}
    keep = []
    for index, label in enumerate(labels):
        if taken.get(label, 0) < per_class:
            taken[label] = taken.get(label, 0) + 1
            keep.append(index)
    subset = Subset(dataset, keep)
    subset.classes = dataset.classes
    subset.targets = [labels[i] for i in keep]
    return subset


def shard_loader(dataset: Dataset, info: DistInfo, batch_size: int, num_workers: int) -> DataLoader:
    """``dataset[rank::world_size]`` in order, without padding."""
    shard = Subset(dataset, range(info.rank, len(dataset), info.world_size))
    return DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=info.device.type == "cuda")


@torch.no_grad()
def extract_features(model: nn.Module, loader: DataLoader, pools: Iterable[str], device: torch.device,
                     amp_dtype: torch.dtype | None = None,
                     on_device=lambda images: images) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Features ``{pool: [n, D]}`` (float32, on ``device``) and labels ``[n]`` of every batch of ``loader``
    (items ``(image, label, ...)``), the model in eval mode; ``on_device`` prepares a batch (e.g. normalises
    ``uint8``)."""
    was_training = model.training
    model.eval()
    features: dict[str, list[torch.Tensor]] = {}
    labels = []
    try:
        for batch in loader:
            images = on_device(batch[0].to(device, non_blocking=True))
            with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                for pool, value in pooled_features(model, images, pools).items():
                    features.setdefault(pool, []).append(value.float())
            labels.append(torch.as_tensor(batch[1]).to(device))
    finally:
        model.train(was_training)
    if not labels:
        empty = torch.zeros(0, feature_dim(model), device=device)  # a process whose shard holds nothing
        return {p: empty for p in pools}, torch.zeros(0, dtype=torch.int64, device=device)
    return {p: torch.cat(v) for p, v in features.items()}, torch.cat(labels).to(torch.int64)


def dataset_features(model: nn.Module, dataset: Dataset, pools: Iterable[str], info: DistInfo, batch_size: int,
                     num_workers: int, amp_dtype: torch.dtype | None = None,
                     gather: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``extract_features`` over this process's shard of ``dataset`` (items ``(tensor, label)``); with ``gather``,
    every process's rows concatenated in rank order on every process."""
    features, labels = extract_features(model, shard_loader(dataset, info, batch_size, num_workers), pools,
                                        info.device, amp_dtype)
    if gather:
        features = {pool: all_gather_rows(value, info) for pool, value in features.items()}
        labels = all_gather_rows(labels, info)
    return features, labels
