"""Computation model of a curriculum: relative cost of every stage and the speedup over the baseline.

The cost of training one epoch at input size ``B`` is proportional to the forward FLOPs of one ``B x B`` image
(backward is a constant multiple of forward, so ratios are unaffected). ``ViTCost`` counts multiply-accumulates of
a ViT: per block ``12 N D^2`` for the qkv/proj/MLP matmuls (MLP ratio 4) and ``2 N^2 D`` for attention, with
``N`` tokens of width ``D``, plus the patch embedding; for MAE the encoder sees ``round(L (1 - mask_ratio))``
visible patches (+ cls) and the decoder all ``L + 1`` tokens. With these counts the ``efficienttrain`` preset gives
the paper's computation savings: MAE ViT-B 1.54x and ViT-L 1.53x (EfficientTrain Table 10), DeiT-S 1.56x and
DeiT-T 1.59x (Table 6). Any ``size -> flops`` callable (e.g. measured FLOPs) can be used instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .schedule import Schedule

__all__ = ["ViTCost", "MODELS", "CostReport", "cost_report", "get_model_cost"]


@dataclass(frozen=True)
class ViTCost:
    """Forward multiply-accumulates of a (MAE) ViT as a function of the square input size."""

    depth: int
    dim: int
    patch: int = 16
    mlp_ratio: float = 4.0
    cls_token: bool = True
    in_chans: int = 3
    mask_ratio: float = 0.0
    decoder_depth: int = 0
    decoder_dim: int = 0

    @staticmethod
    def _blocks(depth: int, tokens: int, dim: int, mlp_ratio: float) -> float:
        matmuls = (4 + 2 * mlp_ratio) * tokens * dim * dim
        attention = 2 * tokens * tokens * dim
        return depth * (matmuls + attention)

    def __call__(self, size: int) -> float:
        if size < self.patch:
            raise ValueError(f"input size {size} is smaller than the patch size {self.patch}")
        patches = (size // self.patch) ** 2
        visible = round(patches * (1 - self.mask_ratio))
        cls = int(self.cls_token)
        flops = visible * self.in_chans * self.patch ** 2 * self.dim  # patch embedding
        flops += self._blocks(self.depth, visible + cls, self.dim, self.mlp_ratio)
        if self.decoder_depth:
            tokens = patches + cls
            flops += (visible + cls) * self.dim * self.decoder_dim  # decoder embedding
            flops += self._blocks(self.decoder_depth, tokens, self.decoder_dim, self.mlp_ratio)
            flops += patches * self.decoder_dim * self.patch ** 2 * self.in_chans  # pixel prediction
        return float(flops)


_MAE_DECODER = dict(mask_ratio=0.75, decoder_depth=8, decoder_dim=512)
MODELS: dict[str, ViTCost] = {
    "deit_tiny": ViTCost(12, 192),
    "deit_small": ViTCost(12, 384),
    "vit_base": ViTCost(12, 768),
    "vit_large": ViTCost(24, 1024),
    "vit_huge": ViTCost(32, 1280, patch=14),
    "mae_vit_base": ViTCost(12, 768, **_MAE_DECODER),
    "mae_vit_large": ViTCost(24, 1024, **_MAE_DECODER),
    "mae_vit_huge": ViTCost(32, 1280, patch=14, **_MAE_DECODER),
}


def get_model_cost(name: str) -> ViTCost:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} for the cost model; choose one of {sorted(MODELS)}")
    return MODELS[name]


@dataclass(frozen=True)
class CostReport:
    """Per-stage and total computation of a schedule relative to a baseline at the final size."""

    stage_cost_per_epoch: tuple[float, ...]  # model cost of one epoch of each stage, relative to the final size
    stage_share: tuple[float, ...]  # fraction of the schedule's total computation spent in each stage
    relative_computation: float  # schedule computation / baseline computation
    speedup: float  # baseline computation / schedule computation (model cost)
    pixel_speedup: float  # the same with the cost counted in pixels (the papers' "epoch_scale_ratio")
    baseline_epochs: float

    def summary(self) -> str:
        return (f"computation: {self.relative_computation:.3f} of the baseline, "
                f"speedup {self.speedup:.2f}x (pixels: {self.pixel_speedup:.2f}x)")


def cost_report(schedule: Schedule, flops: Callable[[int], float], baseline_epochs: float | None = None,
                baseline_size: int | None = None) -> CostReport:
    """Compare ``schedule`` with ``baseline_epochs`` epochs at ``baseline_size`` (default: the final size).

    ``baseline_epochs`` defaults to the schedule's budget: its own epochs for an epoch-based schedule (EfficientTrain
    versus the same number of epochs) and ``E`` for an EfficientTrain++ schedule of budget ``E`` (which then costs
    about the same in pixels; the model cost differs by how the model's FLOPs follow the input size). Replay does not
    change the computation: a replayed stage runs the same steps and only loads less data.
    """
    size = baseline_size or schedule.final_size
    reference = flops(size)
    per_epoch = tuple(flops(s.size) / reference for s in schedule.stages)
    lengths = [(s.end - s.start) * schedule.epochs for s in schedule.stages]
    work = [n * c for n, c in zip(lengths, per_epoch)]
    pixels = schedule.budget * (schedule.final_size / size) ** 2
    total = sum(work)
    if baseline_epochs is None:
        baseline_epochs = schedule.budget if schedule.progress_by == "computation" else schedule.epochs
    baseline = float(baseline_epochs)
    if not baseline > 0:
        raise ValueError(f"baseline epochs must be positive, got {baseline_epochs}")
    return CostReport(per_epoch, tuple(w / total for w in work), total / baseline, baseline / total,
                      baseline / pixels, baseline)
