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

__all__ = ["ScheduleConfig", "auto_fold", "build_schedule"]


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
    fold: int | None = None  # below the final size, this many accumulation steps run as one larger step
    # (Stage.fold); None: 2 when the accumulation is even, as the official launchers' bs_list / up_freq_list
    warmup: float | None = None  # lr warm-up in budget epochs; None: the schedule's (ET++ family) or optim's own
    low_frequency: Literal["fft", "fft-loader", "resize"] = "fft"


def auto_fold(schedule: Schedule, accum_iter: int) -> int:
    """``schedule.fold`` left unset: 2 when the accumulation is even and a stage below the final size has no replay
    buffer, else 1. The official launchers run their low-resolution stages on twice the per-GPU batch with half the
    accumulation (LeapLabTHU/EfficientTrain ``_ET_pp_main_*.py``: ``bs_list`` 256 / ``up_freq_list`` 2 at B=160
    against 128 / 4 at 224); the samples per update are the same."""
    small = [s for s in schedule.stages if s.size < schedule.final_size and s.replay == 1]
    return 2 if small and accum_iter % 2 == 0 else 1


def build_schedule(cfg: ScheduleConfig, patch_size: int | None, report: Callable[[str], None] | None = print,
                   default_family: str = "swin", accum_iter: int = 1) -> Schedule:
    """The schedule a trainer follows, with sizes rounded to the patch size when asked (each rounding reported).
    ``default_family``: the efficienttrain++ family when ``cfg.family`` is not set (the trainer's model family);
    ``accum_iter``: the trainer's gradient accumulation, from which an unset ``fold`` is chosen (``auto_fold``)."""
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
    fold, final = cfg.fold, schedule.final_size
    if fold is None:
        fold = auto_fold(schedule, accum_iter)
        if fold > 1 and report is not None:
            report(f"schedule.fold={fold} (automatic: accumulation {accum_iter} is even): stages below {final} px run "
                   f"batches {fold}x larger with {fold}x less accumulation, the same samples per update; "
                   f"schedule.fold=1 turns it off")
    elif not (isinstance(fold, int) and fold >= 1):
        raise ValueError(f"schedule.fold must be an int >= 1, got {fold!r}")
    elif fold > 1 and all(s.size >= final for s in schedule.stages):
        raise ValueError(f"schedule.fold={fold} folds the stages below the final size ({final}); this "
                         f"schedule has none")
    if fold > 1:
        automatic = cfg.fold is None  # leaves replay stages as they are; an explicit fold is refused there
        schedule = replace(schedule, stages=tuple(
            replace(s, fold=fold) if s.size < final and not (automatic and s.replay > 1) else s
            for s in schedule.stages))
    changed = sorted({(a, b) for a, b in zip(unrounded, (s.size for s in schedule.stages)) if a != b})
    if changed and report is not None:
        report(f"schedule sizes rounded to multiples of the patch size {multiple}: "
               + ", ".join(f"{a} -> {b}" for a, b in changed))
    return schedule
