"""Preset schedules: ``baseline``, ``efficienttrain`` (ICCV 2023) and ``efficienttrain++`` (TPAMI 2024).

``efficienttrain`` -- Wang et al., "EfficientTrain", ICCV 2023 (arXiv 2211.09703), Table 5 / Sec. 4.3: for 300 epochs,
epochs 1-180 at B=160, 181-240 at B=192, 241-300 at B=224, and the RandAugment magnitude rising linearly from 0 to 9
over training; ``epochs`` are real epochs and the lr follows them (``progress_by="epochs"``). The official launcher
(LeapLabTHU/EfficientTrain, ``ET_training.py``) doubles the per-GPU batch below the final size but keeps the
effective batch at 4096 (``update_freq`` halved), so the optimisation is unchanged: ``batch_scale=1`` by default,
and ``schedule.fold=2`` runs the same larger, fewer steps (``Stage.fold``).
For a final size ``v >= 224`` the sizes are ``160, (160+v)/2, v`` (the paper's rule); for ``v < 224`` (small CPU
demos) they scale in proportion, ``v*160/224, v*192/224, v``.

``efficienttrain++`` -- Wang et al., "EfficientTrain++", TPAMI 2024 (arXiv 2405.08768), as released in
LeapLabTHU/EfficientTrain ``_ET_pp_main_<family>.py`` / ``_ET_pp_wReplay_main_<family>.py``:

* ``epochs`` is the computation **budget** ``E`` in final-size-equivalent epochs (the scripts' ``--epoch``; 300 costs
  what the 300-epoch baseline costs, 200 is the 1.5x protocol). Ten stages each take ``E/10`` of the budget: a stage
  at size ``B`` lasts ``(E/10) (v/B)^2`` epochs of steps (the scripts' ``epoch_scale_ratio``; ``rp_epoch = E
  (224/B)^2 / replay`` counts loader epochs, so replay keeps the steps). The lr follows the computation spent
  (``progress_by="computation"``).
* RandAugment magnitude ``m = i`` in stage ``i`` (``--aa rand-m{ET_index}-mstd0.5-inc1``).
* Stage sizes per family (``res_list``; line 13 of every script, line 14 of ``deitS``), listed in ``FAMILIES``.
* Replay (``replay_times_list`` / ``replay_buffer_size_list``, line 21-22, 22-23 for ``deitS``): DeiT-S and
  ResNet-50 replay 4x at 96 and 2x at 160 with buffers of 1920 and 256 loaded batches; Swin-T and CSWin-T 2x at 96
  with 1024 batches and none at 160. ``replay=True`` takes the family's lists (an error for a family with none).
* Warm-up (``rp_warmup_epoch``, line 47-49): DeiT-S ``0.2 E`` budget epochs; every other family 20 loader epochs of
  the first stage, i.e. ``20 r_0 (B_0/v)^2 / r_0 = 20 (B_0/v)^2`` budget epochs.
* Drop path ``d E / 200`` (``--drop_path {d * args.epoch / 200}``, line 60-61): ``Family.drop_path(E)``.
* The global batch is 4096 in every stage (``bs_list x 8 GPUs x up_freq_list``) and the lr 4e-3 (8e-3 for CSWin-B):
  ``batch_scale=1``; ``large_batch=k`` multiplies the global batch below the final size by ``k`` (the trainer scales
  the lr linearly with it), the paper's optional "early large batch". The per-GPU batch itself doubles below the
  final size where ``up_freq_list`` halves (e.g. ConvNeXt: 256 x 2 at 160, 128 x 4 at 224): ``schedule.fold=2``.

No official ET++ code exists for MAE. ``FAMILIES["mae_vit"]`` uses the ConvNeXt list ``[160]*6 + [224]*4``: the
ICCV MAE results (Table 10) never go below B=160, and at B=96 a 16-px-patch MAE sees a 6x6 grid of which 9 patches
stay visible at a 0.75 mask ratio, too little context for the reconstruction task the 224 model is judged on. Its
warm-up is the MAE recipe's own (``optim.warmup_epochs``, 40), counted in budget epochs.

Sizes scale with ``v / 224`` for other final sizes and are rounded to ``round_to`` (the patch size); stage lengths
are computed from the rounded sizes, so every stage costs exactly ``E/10`` in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .schedule import Schedule, Stage, round_size as _round

__all__ = ["PRESETS", "FAMILIES", "Family", "family_of", "make_preset", "baseline", "efficienttrain", "efficienttrain_pp"]


def baseline(epochs: float, final_size: int = 224, magnitude: float = 9.0, round_to: int | None = None) -> Schedule:
    """Plain training: one stage at the final size with a constant RandAugment magnitude."""
    _check_epochs(epochs)
    return Schedule("baseline", epochs, (Stage(0.0, 1.0, _round(final_size, round_to), (magnitude, magnitude)),))


def efficienttrain(epochs: float, final_size: int = 224, magnitude: float = 9.0, round_to: int | None = None,
                   large_batch: float = 1.0) -> Schedule:
    """EfficientTrain (ICCV 2023, Table 5): 3/5 of training at B=160, 1/5 at 192, 1/5 at the final size."""
    _check_epochs(epochs)
    v = final_size
    sizes = (160, (160 + v) / 2, v) if v >= 224 else (v * 160 / 224, v * 192 / 224, v)
    bounds = (0.0, 0.6, 0.8, 1.0)
    stages = []
    for i, size in enumerate(sizes):
        start, end = bounds[i], bounds[i + 1]
        stages.append(Stage(start, end, _round(size, round_to), (magnitude * start, magnitude * end),
                            batch_scale=large_batch if i < 2 else 1.0))
    return Schedule("efficienttrain", epochs, tuple(stages))


@dataclass(frozen=True)
class Family:
    """One ``_ET_pp_main_<script>.py`` of the official release: stage sizes at v=224 and its recipe."""

    sizes: tuple[int, ...]
    script: str
    replay: tuple[int, ...] | None = None  # replay_times_list of the wReplay script, if one exists
    buffer_batches: tuple[int, ...] | None = None  # replay_buffer_size_list (loaded batches)
    warmup_fraction: float | None = None  # warm-up as a fraction of the budget (deitS)
    warmup_first_stage_epochs: float | None = 20.0  # else: this many loader epochs of the first stage
    drop_path_at_200: float | None = None  # --drop_path d * E / 200

    def warmup(self, budget: float, final_size: int, sizes: list[int]) -> float | None:
        """Warm-up in budget-equivalent epochs (``rp_warmup_epoch`` of the scripts); ``None``: the trainer's own."""
        if self.warmup_fraction is not None:
            return self.warmup_fraction * budget
        if self.warmup_first_stage_epochs is None:
            return None
        return self.warmup_first_stage_epochs * (sizes[0] / final_size) ** 2

    def drop_path(self, budget: float) -> float | None:
        return None if self.drop_path_at_200 is None else self.drop_path_at_200 * budget / 200


_R96 = (96,) * 2 + (160,) * 4 + (224,) * 4
FAMILIES: dict[str, Family] = {
    "resnet": Family(_R96, "_ET_pp_main_res50.py", (4,) * 2 + (2,) * 4 + (1,) * 4, (1920,) * 2 + (256,) * 4 + (0,) * 4,
                     drop_path_at_200=0.0),
    "swin": Family(_R96, "_ET_pp_main_swinT.py", (2,) * 2 + (1,) * 8, (1024,) * 2 + (0,) * 8, drop_path_at_200=0.2),
    "cswin": Family(_R96, "_ET_pp_main_cswinT.py", (2,) * 2 + (1,) * 8, (1024,) * 2 + (0,) * 8,
                    drop_path_at_200=0.2),
    "deit_small": Family((96,) * 2 + (160,) * 4 + (192,) * 2 + (224,) * 2, "_ET_pp_main_deitS.py",
                         (4,) * 2 + (2,) * 4 + (1,) * 4, (1920,) * 2 + (256,) * 4 + (0,) * 4, warmup_fraction=0.2,
                         drop_path_at_200=0.1),
    "convnext": Family((160,) * 6 + (224,) * 4, "_ET_pp_main_convnextT.py", drop_path_at_200=0.1),
    "mae_vit": Family((160,) * 6 + (224,) * 4, "none (our choice, see curriculum/presets.py)",
                      warmup_first_stage_epochs=None),
}


FamilyName = Literal[tuple(FAMILIES)]  # validates ``schedule.family`` when a config is loaded


def family_of(model_name: str) -> str:
    """The ET++ family of a timm model name (``deit_small_patch16_224`` -> ``deit_small``); ``swin`` otherwise, the
    list most official scripts share."""
    name = model_name.lower()
    for prefix, family in (("deit_small", "deit_small"), ("resnet", "resnet"), ("swin", "swin"),
                           ("cswin", "cswin"), ("convnext", "convnext")):
        if name.startswith(prefix):
            return family
    return "swin"


def efficienttrain_pp(epochs: float, final_size: int = 224, magnitude: float = 9.0, round_to: int | None = None,
                      family: str = "swin", replay: bool = False, large_batch: float = 1.0) -> Schedule:
    """EfficientTrain++ (TPAMI 2024) with a computation budget of ``epochs`` final-size-equivalent epochs."""
    _check_epochs(epochs)
    if family not in FAMILIES:
        raise ValueError(f"unknown EfficientTrain++ family {family!r}; choose one of {sorted(FAMILIES)}")
    fam = FAMILIES[family]
    if replay and fam.replay is None:
        raise ValueError(f"the official release has no replay-buffer script for family {family!r}; "
                         f"families with replay: {sorted(k for k, f in FAMILIES.items() if f.replay)}")
    n = len(fam.sizes)
    sizes = [_round(b * final_size / 224, round_to) for b in fam.sizes]
    replays = list(fam.replay) if replay else [1] * n
    buffers = list(fam.buffer_batches) if replay else [0] * n
    lengths = [epochs / n * (sizes[-1] / b) ** 2 for b in sizes]  # real epochs of steps, E/n of the budget each
    total = sum(lengths)
    stages, start = [], 0.0
    for i, (b, length) in enumerate(zip(sizes, lengths)):
        end = 1.0 if i == n - 1 else start + length / total
        m = magnitude * i / (n - 1)
        stages.append(Stage(start, end, b, (m, m), batch_scale=large_batch if b < sizes[-1] else 1.0,
                            replay=replays[i], buffer_batches=buffers[i]))
        start = end
    return Schedule("efficienttrain++", total, tuple(stages), progress_by="computation",
                    warmup=fam.warmup(epochs, sizes[-1], sizes))


def _check_epochs(epochs: float) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not epochs > 0:
        raise ValueError(f"epochs (or the ET++ budget) must be a positive number, got {epochs!r}")


PRESETS = {"baseline": baseline, "efficienttrain": efficienttrain, "efficienttrain++": efficienttrain_pp}


def make_preset(name: str, epochs: float, final_size: int = 224, round_to: int | None = None, **kwargs) -> Schedule:
    """Build a preset by name, scaled to ``epochs`` (the budget for ET++) and ``final_size`` (sizes rounded to
    ``round_to`` if given). ``family`` and ``replay`` are EfficientTrain++ options."""
    if name not in PRESETS:
        raise ValueError(f"unknown schedule preset {name!r}; choose one of {sorted(PRESETS)}")
    if not (isinstance(final_size, int) and final_size > 0):
        raise ValueError(f"final size must be a positive int, got {final_size!r}")
    only_pp = sorted(k for k in ("family", "replay") if k in kwargs)
    if only_pp and name != "efficienttrain++":
        raise ValueError(f"{', '.join(only_pp)}: EfficientTrain++ option(s), not available for preset {name!r}")
    if "large_batch" in kwargs and name == "baseline":
        raise ValueError("large_batch multiplies the batch below the final size; preset 'baseline' has no such stage")
    return PRESETS[name](epochs, final_size=final_size, round_to=round_to, **kwargs)
