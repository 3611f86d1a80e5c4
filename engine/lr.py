"""Learning rate as a function of fractional epoch: linear warm-up, then half-cycle cosine (MAE, He et al. 2022).

``lr = base * t / warmup`` for ``t < warmup``, then ``min + (base - min) * (1 + cos(pi * p)) / 2`` with
``p = (t - warmup) / (epochs - warmup)``. Evaluated per step at ``t = epoch + step / steps_per_epoch``, so it stays
smooth when the curriculum changes the number of steps per epoch.
"""
from __future__ import annotations

import math

__all__ = ["cosine_lr", "curriculum_lr", "scaled_lr", "set_lr"]


def cosine_lr(t: float, base_lr: float, epochs: float, warmup_epochs: float, min_lr: float = 0.0) -> float:
    if t < warmup_epochs:
        return base_lr * t / warmup_epochs
    progress = (t - warmup_epochs) / max(epochs - warmup_epochs, 1e-8)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def curriculum_lr(schedule, progress: float, base_lr: float, warmup: float, min_lr: float = 0.0) -> float:
    """The lr at training ``progress`` (``schedule.progress``: epochs for EfficientTrain, computation for
    EfficientTrain++), with warm-up and cosine laid over the schedule's epochs or its budget respectively."""
    span = schedule.budget if schedule.progress_by == "computation" else schedule.epochs
    return cosine_lr(progress * span, base_lr, span, warmup, min_lr)


def scaled_lr(blr: float, global_batch: int) -> float:
    """The linear scaling rule used by MAE/DeiT: ``lr = blr * global_batch / 256``."""
    return blr * global_batch / 256


def set_lr(optimizer, lr: float) -> None:
    """Set every group's lr, honouring a per-group ``lr_scale`` (layer-wise decay) when present."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
