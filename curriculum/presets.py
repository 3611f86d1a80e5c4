"""Preset schedules: ``baseline``, ``efficienttrain`` (ICCV 2023) and ``efficienttrain++`` (TPAMI 2024).

Sources of the numbers:

* ``efficienttrain`` -- Wang et al., "EfficientTrain", ICCV 2023 (arXiv 2211.09703), Table 5 / Sec. 4.3: for 300
  epochs, epochs 1-180 at B=160, 181-240 at B=192, 241-300 at B=224, and the RandAugment magnitude rising linearly
  from 0 to 9 over training. The official launcher (LeapLabTHU/EfficientTrain, ``ET_training.py``) doubles the
  per-GPU batch below the final size but keeps the effective batch at 4096 (``update_freq`` halved), so the
  optimisation is unchanged: ``batch_scale=1`` by default. For a final size ``v >= 224`` the sizes are
  ``160, (160+v)/2, v`` (the paper's rule); for ``v < 224`` (small CPU demos) they scale in proportion,
  ``v*160/224, v*192/224, v``.
* ``efficienttrain++`` -- Wang et al., "EfficientTrain++", TPAMI 2024 (arXiv 2405.08768), as released in
  ``_ET_pp_main_*.py`` / ``_ET_pp_wReplay_main_*.py`` of LeapLabTHU/EfficientTrain: training is cut into ten
  segments of *equal computation* with input sizes ``[96]*2 + [160]*4 + [224]*4``, so a segment at size ``B`` lasts
  ``(224/B)^2`` times as many epochs as one at 224; RandAugment magnitude ``m = 0, 1, ..., 9`` in segment 0..9;
  per-GPU batch 512 below 224 and 256 (x2 accumulation) at 224, again a constant effective batch. The "early
  large batch" option (``large_batch=k``) multiplies the global batch of the stages below the final size by ``k``
  (the trainer scales the learning rate linearly with the global batch). With
  ``replay=True`` the low-resolution segments reuse every loaded batch 4x (B=96) and 2x (B=160), the deit-S/Swin
  replay-buffer setting, for setups whose data loading is the bottleneck. Sizes scale with ``v / 224``.
"""
from __future__ import annotations

from .schedule import Schedule, Stage, round_size as _round

__all__ = ["PRESETS", "make_preset", "baseline", "efficienttrain", "efficienttrain_pp"]


def baseline(epochs: int, final_size: int = 224, magnitude: float = 9.0, round_to: int | None = None) -> Schedule:
    """Plain training: one stage at the final size with a constant RandAugment magnitude."""
    return Schedule("baseline", epochs, (Stage(0.0, 1.0, _round(final_size, round_to), (magnitude, magnitude)),))


def efficienttrain(epochs: int, final_size: int = 224, magnitude: float = 9.0, round_to: int | None = None,
                   large_batch: float = 1.0) -> Schedule:
    """EfficientTrain (ICCV 2023, Table 5): 3/5 of training at B=160, 1/5 at 192, 1/5 at the final size."""
    v = final_size
    sizes = (160, (160 + v) / 2, v) if v >= 224 else (v * 160 / 224, v * 192 / 224, v)
    bounds = (0.0, 0.6, 0.8, 1.0)
    stages = []
    for i, size in enumerate(sizes):
        start, end = bounds[i], bounds[i + 1]
        stages.append(Stage(start, end, _round(size, round_to), (magnitude * start, magnitude * end),
                            batch_scale=large_batch if i < 2 else 1.0))
    return Schedule("efficienttrain", epochs, tuple(stages))


_ETPP_SIZES = (96, 96, 160, 160, 160, 160, 224, 224, 224, 224)
_ETPP_REPLAY = {96: 4, 160: 2, 224: 1}


def efficienttrain_pp(epochs: int, final_size: int = 224, magnitude: float = 9.0, round_to: int | None = None,
                      replay: bool = False, large_batch: float = 1.0) -> Schedule:
    """EfficientTrain++ (TPAMI 2024): ten equal-computation segments, B = 96 -> 160 -> final, m = 0..9."""
    sizes = [_round(b * final_size / 224, round_to) for b in _ETPP_SIZES]
    replays = [_ETPP_REPLAY[b] if replay else 1 for b in _ETPP_SIZES]
    # Equal computation per segment: epochs in a segment scale as (final/B)^2, divided by the replay factor
    # (a replayed batch costs a step but no loading, so fewer loader epochs give the same number of steps).
    weights = [(final_size / b) ** 2 / r for b, r in zip(sizes, replays)]
    total = sum(weights)
    stages, start = [], 0.0
    for i, (b, w, r) in enumerate(zip(sizes, weights, replays)):
        end = 1.0 if i == len(sizes) - 1 else start + w / total
        m = magnitude * i / (len(sizes) - 1)
        stages.append(Stage(start, end, b, (m, m), batch_scale=large_batch if b < sizes[-1] else 1.0,
                            replay=r))
        start = end
    return Schedule("efficienttrain++", epochs, tuple(stages))


PRESETS = {"baseline": baseline, "efficienttrain": efficienttrain, "efficienttrain++": efficienttrain_pp}


def make_preset(name: str, epochs: int, final_size: int = 224, round_to: int | None = None, **kwargs) -> Schedule:
    """Build a preset by name, scaled to ``epochs`` and ``final_size`` (sizes rounded to ``round_to`` if given)."""
    if name not in PRESETS:
        raise ValueError(f"unknown schedule preset {name!r}; choose one of {sorted(PRESETS)}")
    if not (isinstance(final_size, int) and final_size > 0):
        raise ValueError(f"final size must be a positive int, got {final_size!r}")
    return PRESETS[name](epochs, final_size=final_size, round_to=round_to, **kwargs)
