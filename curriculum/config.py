"""The ``schedule:`` section every trainer's config shares, and the schedule it builds.

``epochs`` is the length of training for ``baseline`` / ``efficienttrain`` and the computation budget ``E`` (final-size
equivalent epochs) for ``efficienttrain++`` (see ``curriculum.presets``). ``low_frequency`` chooses how the low
frequencies of an image are extracted: ``fft`` (paper Eq. 1, batched on the device, default), ``fft-loader`` (the
same crop per image in the loader workers) or ``resize`` (the ET++ release: PIL Lanczos to ``B`` in the loader, after
RandAugment; ``datasets_buffer.py: build_transform``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Literal

from .presets import FamilyName, make_preset
from .schedule import Schedule

__all__ = ["ScheduleConfig", "build_schedule"]


@dataclass
class ScheduleConfig:
    """Which curriculum to follow: a preset scaled to ``epochs``/``final_size``, or a schedule file."""

    preset: Literal["baseline", "efficienttrain", "efficienttrain++"] = "efficienttrain"
    epochs: float = 100  # efficienttrain++: the computation budget E
    final_size: int = 224
    file: str | None = None  # a Schedule YAML/JSON; overrides preset, keeps its own stages (epochs/budget rescaled)
    round_to_patch: bool = True  # round sizes to a multiple of the model's patch size
    family: FamilyName | None = None  # efficienttrain++ stage list: resnet | swin | cswin | deit_small | convnext | mae_vit
    replay: bool = False  # efficienttrain++ replay buffer of the family's official wReplay script
    large_batch: float = 1.0  # early-large-batch multiplier below the final size
    fold: int = 1  # below the final size, this many accumulation steps run as one larger step (Stage.fold)
    warmup: float | None = None  # lr warm-up in budget epochs; None: the schedule's (ET++ family) or optim's own
    low_frequency: Literal["fft", "fft-loader", "resize"] = "fft"


def build_schedule(cfg: ScheduleConfig, patch_size: int | None, report: Callable[[str], None] | None = print,
                   default_family: str = "swin") -> Schedule:
    """The schedule a trainer follows, with sizes rounded to the patch size when asked (each rounding reported).
    ``default_family``: the efficienttrain++ family when ``cfg.family`` is not set (the trainer's model family)."""
    if not cfg.epochs > 0:
        raise ValueError(f"schedule.epochs must be positive, got {cfg.epochs}")
    multiple = patch_size if cfg.round_to_patch else None
    if cfg.file:
        schedule = Schedule.load(cfg.file)
        schedule = (schedule.with_budget(cfg.epochs) if schedule.progress_by == "computation"
                    else schedule.with_epochs(cfg.epochs))
        unrounded = [s.size for s in schedule.stages]
        schedule = schedule.rounded(multiple) if multiple else schedule
    else:
        extra = {"large_batch": cfg.large_batch} if cfg.large_batch != 1.0 else {}
        if cfg.preset == "efficienttrain++":
            extra.update(family=cfg.family or default_family, replay=cfg.replay)
        elif cfg.family is not None or cfg.replay:
            raise ValueError(f"schedule.family and schedule.replay are efficienttrain++ options; schedule.preset is "
                             f"{cfg.preset!r}")
        unrounded = [s.size for s in make_preset(cfg.preset, cfg.epochs, cfg.final_size, **extra).stages]
        schedule = make_preset(cfg.preset, cfg.epochs, cfg.final_size, round_to=multiple, **extra)
    if cfg.warmup is not None:
        schedule = replace(schedule, warmup=cfg.warmup)
    if cfg.fold != 1:
        if not (isinstance(cfg.fold, int) and cfg.fold >= 1):
            raise ValueError(f"schedule.fold must be an int >= 1, got {cfg.fold!r}")
        final = schedule.final_size
        if all(s.size >= final for s in schedule.stages):
            raise ValueError(f"schedule.fold={cfg.fold} folds the stages below the final size ({final}); this "
                             f"schedule has none")
        schedule = replace(schedule, stages=tuple(replace(s, fold=cfg.fold) if s.size < final else s
                                                  for s in schedule.stages))
    changed = sorted({(a, b) for a, b in zip(unrounded, (s.size for s in schedule.stages)) if a != b})
    if changed and report is not None:
        report(f"schedule sizes rounded to multiples of the patch size {multiple}: "
               + ", ".join(f"{a} -> {b}" for a, b in changed))
    return schedule
