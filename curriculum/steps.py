"""A schedule laid out in optimisation steps for a given dataset and batch size.

Stages switch at step granularity: stage ``s`` of ``epochs_s`` real epochs runs ``round(epochs_s N / G_s)`` steps,
``N`` the dataset size and ``G_s`` its global batch per step (per-device batch x stage ``batch_scale`` x ``fold`` x
world size; a folded stage runs ``fold`` times fewer, larger steps, and accumulates ``fold`` times fewer of them into
an update: ``accum = accum_iter / fold`` steps of ``global_batch = batch x world size x accum`` samples). A stage
that would get no step is refused with a message naming it, so the model is never evaluated at a size it was not
trained at. Each step loads ``batch / r`` fresh samples per device (``r`` the stage's replay factor); the loader reads
one continuous stream of epoch permutations, so stage switches need not fall on epoch boundaries.

``StepPlan`` is plain data (picklable into loader workers): ``stage_at(step)``, ``epoch_at(step)`` (real epochs of
steps, fractional), ``values(step)`` (size and RandAugment magnitude), ``progress(step)`` (the schedule's training
progress, which the learning rate follows), ``stream_offset(step)`` (position in the sample stream) and
``computation(step, flops)`` (the cost model's computation done, in epochs at the final size).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable

from .schedule import Schedule, StageValues

__all__ = ["StagePlan", "StepPlan"]


@dataclass(frozen=True)
class StagePlan:
    index: int
    size: int
    batch: int  # per device, per step (fresh + replayed)
    fresh: int  # per device, loaded per step: batch / replay
    replay: int
    buffer_batches: int
    lr_scale: float
    fold: int  # accumulation steps folded into one (Stage.fold): the trainer accumulates fold times fewer
    accum: int  # steps accumulated into one optimizer update
    global_batch: int  # samples per optimizer update, all devices
    first_step: int
    steps: int
    first_epoch: float
    end_epoch: float

    @property
    def end_step(self) -> int:
        return self.first_step + self.steps


class StepPlan:
    """``schedule`` over ``dataset_size`` samples with ``batch_size`` per device on ``world_size`` devices, whose
    gradients are accumulated over ``accum_iter`` batches (a multiple of every stage's ``fold``)."""

    def __init__(self, schedule: Schedule, dataset_size: int, batch_size: int, world_size: int = 1,
                 accum_iter: int = 1):
        if dataset_size < 1 or batch_size < 1 or world_size < 1 or accum_iter < 1:
            raise ValueError(f"dataset size, batch size, world size and accumulation must be positive, got "
                             f"{dataset_size}, {batch_size}, {world_size}, {accum_iter}")
        folds = sorted({s.fold for s in schedule.stages if accum_iter % s.fold})
        if folds:
            raise ValueError(f"schedule.fold={folds[-1]} runs that many accumulation steps as one larger step below "
                             f"the final size: optim.accum_iter ({accum_iter}) must be a multiple of it")
        self.schedule, self.dataset_size, self.world_size = schedule, dataset_size, world_size
        stages, step, offset = [], 0, 0
        self._offsets = []
        for i, s in enumerate(schedule.stages):
            batch = max(1, round(batch_size * s.batch_scale)) * s.fold
            if batch % s.replay:
                raise ValueError(f"stage {i} (B={s.size}): its batch of {batch} per device is not divisible by its "
                                 f"replay factor {s.replay}; choose a batch size that is")
            first, end = schedule.stage_span(i)
            samples = (end - first) * dataset_size
            steps = round(samples / (batch * world_size))
            if steps < 1:
                raise ValueError(f"stage {i} (B={s.size}, epochs {first:.3g}-{end:.3g}) would get no training step: "
                                 f"{samples:.0f} samples is less than half a global batch of {batch * world_size}. "
                                 f"Train for more epochs or use a smaller batch")
            accum = accum_iter // s.fold
            stages.append(StagePlan(i, s.size, batch, batch // s.replay, s.replay, s.buffer_batches, s.lr_scale,
                                    s.fold, accum, batch * world_size * accum, step, steps, first, end))
            self._offsets.append(offset)
            step += steps
            offset += steps * (batch // s.replay) * world_size
        self.stages: tuple[StagePlan, ...] = tuple(stages)
        self.total_steps = step
        self.total_samples = offset  # samples the loader reads over the whole run (all devices)
        self._firsts = [s.first_step for s in stages]

    def stage_at(self, step: int) -> StagePlan:
        if not 0 <= step < self.total_steps:
            raise ValueError(f"step {step} is outside 0..{self.total_steps - 1}")
        return self.stages[bisect.bisect_right(self._firsts, step) - 1]

    def epoch_at(self, step: float) -> float:
        """Real epochs done after ``step`` steps (``step`` may be fractional, ``0 <= step <= total_steps``)."""
        if step >= self.total_steps:
            return float(self.schedule.epochs)
        s = self.stage_at(int(step))
        return s.first_epoch + (step - s.first_step) / s.steps * (s.end_epoch - s.first_epoch)

    def values(self, step: int) -> StageValues:
        """Size and magnitude for ``step`` (the magnitude at the step's midpoint), always inside its stage."""
        s = self.stage_at(step)
        epoch = min(max(self.epoch_at(step + 0.5), s.first_epoch), s.end_epoch)
        values = self.schedule.at(epoch)
        if values.stage != s.index:  # a boundary that rounds into the next stage stays in the planned one
            st = self.schedule.stages[s.index]
            return StageValues(s.index, st.size, st.magnitude[1], st.batch_scale, st.lr_scale, st.replay)
        return values

    def progress(self, step: float) -> float:
        return self.schedule.progress(self.epoch_at(step))

    def stream_offset(self, step: int) -> int:
        """Samples (all devices) the loader has read before ``step``."""
        s = self.stage_at(step)
        return self._offsets[s.index] + (step - s.first_step) * s.fresh * self.world_size

    def computation(self, step: int, flops: Callable[[int], float]) -> float:
        """Computation of the first ``step`` steps in final-size epochs: sum over steps of the images trained times
        ``flops(B) / flops(final_size)``, over the dataset size (``curriculum.cost_report`` counts the same per
        stage; here it is exact to the step, replayed samples included)."""
        reference = flops(self.schedule.final_size)
        done = 0.0
        for s in self.stages:
            steps = min(max(step - s.first_step, 0), s.steps)
            done += steps * s.batch * self.world_size * flops(s.size) / reference
        return done / self.dataset_size

    def epoch_end_steps(self) -> list[int]:
        """For every real epoch ``e = 1, 2, ...`` (and the fractional end), the step count after which it is done."""
        ends, e = [], 1
        while e < self.schedule.epochs - 1e-9:
            low, high = 1, self.total_steps  # smallest step count s with epoch_at(s) >= e
            while low < high:
                mid = (low + high) // 2
                if self.epoch_at(mid) >= e - 1e-9:
                    high = mid
                else:
                    low = mid + 1
            if not ends or low > ends[-1]:
                ends.append(low)
            e += 1
        if not ends or ends[-1] != self.total_steps:
            ends.append(self.total_steps)
        return ends

    def table(self) -> str:
        rows = [f"{'stage':>5} {'B':>5} {'steps':>8} {'batch':>6} {'fresh':>6} {'replay':>6} {'fold':>5} "
                f"{'accum':>5} {'global':>7} {'epochs':>15}"]
        for s in self.stages:
            rows.append(f"{s.index:>5} {s.size:>5} {s.steps:>8} {s.batch:>6} {s.fresh:>6} {s.replay:>6} {s.fold:>5} "
                        f"{s.accum:>5} {s.global_batch:>7} {s.first_epoch:>7.2f}-{s.end_epoch:<7.2f}")
        return "\n".join(rows)
