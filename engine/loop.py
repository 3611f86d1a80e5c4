"""The one curriculum training loop every trainer runs; a trainer is a ``Task`` (MAE's ``engine_pretrain.py`` is the
model for readability).

The loop owns: the ``StepPlan`` (stages switch at step granularity), one loader for the whole run (the curriculum
reaches the data as data, ``engine.data.CurriculumSamples``; with ``data.decode=device`` or ``box`` its batches
finished ahead on the device, ``engine.decode_ahead``), ``run.compile`` (``engine.runtime.compile_model``), the
EfficientTrain++ replay buffer, the device-side low-frequency crop (``schedule.low_frequency=fft``), the learning rate
as a function of the schedule's progress (``engine.lr.curriculum_lr``), gradient accumulation with ``no_sync``
(``Stage.fold`` folds some of it into larger steps), autocast and the fp16 grad scaler, gradient clipping and its
norm, the non-finite check, progress bar and scalars, a record per real epoch with the task's evaluation, the training
wall time (evaluation and checkpoint writing excluded, building a decoded cache included, carried over a resume) and
the cost model's computation so far (``train_time_s``, ``computation`` in final-size epochs: what a time-to-accuracy
curve plots), the share of that time spent waiting for the loader (``data_wait_share``) and preparing the batch on
the device (``prepare_share``: the task's ``on_device``, e.g. fine-tuning's RandAugment there, and the low-frequency
crop), and atomic checkpoints with resume mid-curriculum (refusing another schedule). A stop signal or
``run.save_minutes`` checkpoints mid-epoch (``engine.preempt``) with what an exact continuation needs: the record's
partial sums on every rank, the replay buffers and a record whose evaluation a signal abandoned; a resume then leaves
``metrics.jsonl`` and TensorBoard without duplicates.

A ``Task`` holds ``model`` and ``optimizer`` and says what is specific to it: the loader transform for a stage's
values, the loss of a batch, the relative cost of an input size, and optionally what happens after an optimizer
update, at the end of a record, at the end of the run, and what extra state it checkpoints.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel

from curriculum import ReplayBuffer, Schedule, StageValues, StepPlan, low_frequency_crop

from .checkpoint import CheckpointError, check_same_layout, check_same_schedule, load_checkpoint, \
    restore_training_state, rng_state, save_atomic
from .config import to_dict
from .data import CurriculumSamples, make_train_loader
from .decoded_cache import attach_decoded_cache
from .decode_ahead import loader_batches
from .distributed import DistInfo, all_gather_rows, all_reduce_mean
from .logger import RunLogger
from .lr import curriculum_lr, scaled_lr, set_lr
from .preempt import Preempted, StopSignals
from .runtime import compile_model, resolve_amp, resume_path, worker_nice

__all__ = ["Task", "train"]

LOG_EVERY = 10  # steps between scalars (and the finiteness check, the only host sync of the step loop)


class Task:
    """What a trainer adds to the loop. Subclasses set ``model`` and ``optimizer`` and implement ``transform`` and
    ``loss``; the other hooks are optional."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer

    def transform(self, values: StageValues) -> Callable:
        """The loader transform (PIL image in) for a step with these stage values."""
        raise NotImplementedError

    def on_device(self, images: torch.Tensor, keys: torch.Tensor, values: StageValues) -> torch.Tensor:
        """The batch on the device before the low-frequency crop (e.g. uint8 -> normalised float, augmentation drawn
        from the samples' ``keys``, given on the host as the loader made them), for a step with these stage
        values."""
        return images

    def loss(self, model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor, keys: torch.Tensor,
             step: int) -> torch.Tensor:
        """The loss of a batch (called under autocast); ``model`` is the DDP / compiled wrapper."""
        raise NotImplementedError

    def cost(self, size: int) -> float:
        """Forward cost of one image at input size ``size`` (any unit; only ratios between sizes are used). Default:
        pixels; a task with a cost model (a ViT, MAE) returns its FLOPs (``curriculum.ViTCost``)."""
        return float(size * size)

    def after_update(self) -> None:
        """After every optimizer step (e.g. EMA)."""

    def end_of_record(self, record: dict, logger: RunLogger, log_images: bool) -> dict:
        """At the end of every real epoch: returns what to add to the record (e.g. evaluation)."""
        return {}

    def finish(self, logger: RunLogger) -> None:
        """After the last step, on the main rank (e.g. export the encoder)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` from a checkpoint."""


def _resume_state(cfg, schedule: Schedule, layout: dict) -> dict | None:
    path = resume_path(cfg.run.resume, cfg.run.output_dir)
    if path is None:
        return None
    try:
        state = load_checkpoint(path)
    except CheckpointError as err:
        numbered = sorted(Path(path).parent.glob("checkpoint-[0-9]*.pth"))
        hint = (f"numbered checkpoints in {path.parent}: {', '.join(p.name for p in numbered)}; resume from one with "
                f"--set run.resume=<path>" if numbered else "no numbered checkpoint exists to resume from instead")
        raise CheckpointError(f"{err}\n{hint} (the damaged file is left as it is until a good one replaces it)") \
            from err
    check_same_schedule(state, schedule, path)
    check_same_layout(state, layout, path)
    if "step" not in state:
        raise CheckpointError(f"{path} holds no step count: it was not written by this training loop")
    state["path"] = str(path)
    return state


def train(task: Task, cfg, info: DistInfo, schedule: Schedule, train_set, logger: RunLogger,
          report: str = "") -> dict:
    """Run (or resume) ``task`` over ``schedule`` on ``train_set``; returns the last record.

    ``cfg`` is the trainer's config: ``run``, ``optim`` (batch_size, accum_iter as ``engine.batch`` resolved it,
    blr, warmup_epochs, min_lr, clip_grad), ``data`` (num_workers, decode, cache_scale, on_corrupt) and
    ``schedule.low_frequency`` are read here. On a CPU device the loader workers run at a lower priority than torch's
    threads (``engine.runtime.worker_nice``).
    """
    if info.device.type == "cpu" and cfg.data.num_workers and info.is_main:
        print(f"CPU: {torch.get_num_threads()} torch thread(s), {cfg.data.num_workers} loader worker(s) at nice "
              f"+{worker_nice(info.device)} on {os.cpu_count()} cores (engine.runtime.worker_nice)")
    with StopSignals(info, cfg.run.save_minutes) as stops:
        return _train(task, cfg, info, schedule, train_set, logger, report, stops)


def _train(task: Task, cfg, info: DistInfo, schedule: Schedule, train_set, logger: RunLogger, report: str,
           stops: StopSignals) -> dict:
    device, optim, model, optimizer = info.device, cfg.optim, task.model, task.optimizer
    plan = StepPlan(schedule, len(train_set), optim.batch_size, info.world_size, optim.accum_iter)
    amp_dtype = resolve_amp(cfg.run.amp, device, print if info.is_main else None)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    warmup = schedule.warmup if schedule.warmup is not None else optim.warmup_epochs

    start_step, train_time = 0, 0.0
    layout = {"dataset_size": len(train_set), "batch_size": optim.batch_size, "world_size": info.world_size,
              "accum_iter": optim.accum_iter}
    state = _resume_state(cfg, schedule, layout)
    if state is not None:
        restore_training_state(state, model, optimizer, scaler)
        task.load_state_dict(state.get("task", {}))
        start_step, train_time = state["step"], state.get("train_time_s", 0.0)
        if info.is_main:
            print(f"resumed from {state['path']} at step {start_step} of {plan.total_steps} (epoch "
                  f"{plan.epoch_at(start_step):.2f}, stage {plan.stage_at(min(start_step, plan.total_steps - 1)).index})"
                  if start_step < plan.total_steps else f"{state['path']} already finished all {plan.total_steps} steps")
    if info.is_main:
        print(schedule.table())
        print(plan.table())
        print(f"lr: warm-up {warmup:g} {'budget ' if schedule.progress_by == 'computation' else ''}epochs, "
              f"then cosine, over training progress measured in {schedule.progress_by}")
        if report:
            print(report)
        (logger.dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

    train_model = model
    if info.distributed:
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    train_model = compile_model(model, train_model, cfg.run.compile)

    caching = attach_decoded_cache(train_set, cfg.data.cache_scale, cfg.data.decode,
                                   print if info.is_main else None, info.local_rank)
    samples = CurriculumSamples(train_set, cfg.run.seed, plan, task.transform)
    loader = make_train_loader(samples, info, cfg.run.seed, cfg.data.num_workers, start_step)
    epoch_ends = plan.epoch_end_steps()
    record_at = {end: epoch for epoch, end in enumerate(epoch_ends)}  # step count -> epoch record
    params = [p for group in optimizer.param_groups for p in group["params"]]
    replay, replay_stage = None, -1
    record: dict = {}
    totals = _Totals(device, train_time + caching)  # building the decoded cache is part of training
    if state is not None:
        totals.load_state_dict(state.get("partial"), info)
        current = plan.stage_at(min(start_step, plan.total_steps - 1))
        if state.get("replay") is not None and current.index == state["replay_stage"]:  # the buffer continues
            replay, replay_stage = ReplayBuffer(current.replay, current.buffer_batches), current.index
            replay.load_state_dict(state["replay"][info.rank])
    logger.resume_at(start_step)

    def checkpoint(epoch: int, step: int, last: bool, pending: dict | None = None) -> float:
        """Every rank: gather what a continuation at ``step`` needs; rank 0 writes it. Returns the seconds spent."""
        started = time.perf_counter()
        extra = {"partial": totals.state_dict(info), "replay_stage": replay_stage,
                 "replay": _gather_objects(replay.state_dict(), info) if replay is not None else None,
                 "pending_record": pending}
        if info.is_main:
            _save(cfg, task, optimizer, scaler, schedule, layout, epoch, step, last, logger.dir, totals.train_time,
                  extra)
        return stops.saved(time.perf_counter() - started)

    def stop(step: int) -> None:
        """Every rank: meet at a barrier after the checkpoint at ``step``, say where and how to resume, exit."""
        if info.distributed:
            torch.distributed.barrier()
        if info.is_main:
            stage = plan.stage_at(min(step, plan.total_steps - 1)).index
            print(f"stopped by {stops.name} at step {step} of {plan.total_steps} (epoch {plan.epoch_at(step):.2f}, "
                  f"stage {stage}): {logger.dir / 'checkpoint-last.pth'} "
                  f"written in {stops.last_save_s:.1f} s; the same command resumes it (run.resume=auto); exit status "
                  f"{stops.exit_status}", file=sys.stderr, flush=True)
        raise SystemExit(stops.exit_status)

    def close_record(record: dict, epoch: int, end: int, last: bool, resumed: bool = False) -> dict:
        """Evaluate, log and checkpoint a record; a signal during the evaluation checkpoints the record unevaluated
        (evaluated after the resume, without image panels: their batch is gone) and stops."""
        images_due = not resumed and bool(cfg.run.log_images_every) and (epoch % cfg.run.log_images_every == 0 or
                                                                         last)
        try:
            with stops.evaluation():
                record = {**record, **task.end_of_record(record, logger, images_due and info.is_main)}
        except Preempted:
            checkpoint(epoch - 1, end, False, pending=record)
            stop(end)
        logger.epoch(record)
        checkpoint(epoch, end, last)
        totals.restart_clock()  # evaluation and checkpoint writing are not training time
        return record

    if state is not None and state.get("pending_record"):
        pending = state["pending_record"]
        record = close_record(pending, pending["epoch"], start_step, start_step == plan.total_steps, resumed=True)
    bar = logger.bar(plan.total_steps, "train", initial=start_step)
    poll_due = False
    model.train()
    optimizer.zero_grad(set_to_none=True)
    # data.decode=device or box: batches finished ahead on the device
    with loader_batches(loader, cfg.data.decode, device, cfg.data.on_corrupt) as batches:
        for step in range(start_step, plan.total_steps):
            waiting = time.perf_counter()
            images, targets, keys, skipped = next(batches)
            totals.data_wait += time.perf_counter() - waiting  # host time blocked on the loader (timm's data_time)
            stage = plan.stage_at(step)
            loaded = images.shape[0]
            if stage.replay > 1:
                if stage.index != replay_stage:
                    generator = torch.Generator().manual_seed(cfg.run.seed * 7919 + stage.index)
                    replay = ReplayBuffer(stage.replay, stage.buffer_batches, generator=generator)
                    replay_stage = stage.index
                images, targets, keys = replay.mix((images, targets, keys))
            host_keys = keys
            targets, keys = targets.to(device, non_blocking=True), keys.to(device, non_blocking=True)
            with totals.preparing():
                images = task.on_device(images.to(device, non_blocking=True), host_keys, plan.values(step))
                if images.shape[-1] != stage.size:
                    images = low_frequency_crop(images, stage.size)
            accum, global_batch = stage.accum, stage.global_batch  # a folded stage's steps are fold micro-steps each
            update_start = step - (step - stage.first_step) % accum  # an update's lr is that of its first micro-step
            lr = curriculum_lr(schedule, plan.progress(update_start),
                               scaled_lr(optim.blr, global_batch) * stage.lr_scale, warmup, optim.min_lr)
            set_lr(optimizer, lr)
            update = (step + 1 - stage.first_step) % accum == 0 or step + 1 == stage.end_step
            with train_model.no_sync() if info.distributed and not update else contextlib.nullcontext():
                with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
                    loss = task.loss(train_model, images, targets, keys, step)
                scaler.scale(loss / accum).backward()
            if update:
                scaler.unscale_(optimizer)
                totals.grad_norm = torch.nn.utils.clip_grad_norm_(params, optim.clip_grad or math.inf)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                task.after_update()
            totals.add(loss.detach(), images.shape[0], loaded, int(skipped.sum()))
            bar.update()
            end = step + 1
            poll_due = poll_due or step % LOG_EVERY == 0 or end in record_at
            if step % LOG_EVERY == 0 or end in record_at:
                totals.check_finite(step)
                value = float(loss.detach())
                bar.set_description(f"stage {stage.index} B={stage.size}")
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}")
                if info.is_main:
                    logger.scalars({"train/loss": value, "train/lr": lr, "train/grad_norm": float(totals.grad_norm),
                                    "train/epoch": plan.epoch_at(end), "curriculum/size": stage.size,
                                    "curriculum/stage": stage.index, "curriculum/batch_size": images.shape[0],
                                    "curriculum/progress": plan.progress(end), **totals.speed(info)}, step)
            if end not in record_at:
                if update and poll_due:  # at an update boundary where the loop has just synced anyway
                    poll_due = False
                    halt, due = stops.poll()
                    if halt or due:
                        totals.exclude(checkpoint(record.get("epoch", -1), end, False))
                        if halt:
                            stop(end)
                continue
            epoch = record_at[end]
            last = end == plan.total_steps
            begun = epoch_ends[epoch - 1] if epoch else 0  # the record's first step
            record = {"epoch": epoch, "epochs_done": round(plan.epoch_at(end), 4), "step": end, "stage": stage.index,
                      "stage_end": last or plan.stage_at(end).index != plan.stage_at(begun).index,
                      "size": stage.size, "batch": stage.batch, "global_batch": global_batch,
                      "magnitude": round(plan.values(step).magnitude, 3), **totals.close(info), "lr": lr,
                      "computation": round(plan.computation(end, task.cost), 6)}
            record = close_record(record, epoch, end, last)
            if update and not last:
                poll_due = False
                if stops.poll()[0]:
                    stop(end)  # the record's checkpoint is at this step
    bar.close()
    if info.is_main and start_step < plan.total_steps:
        task.finish(logger)
    return record


class _Totals:
    """Sums over a record, kept on the device (no host sync per step)."""

    def __init__(self, device: torch.device, train_time: float = 0.0):
        self.device, self.train_time = device, train_time  # training seconds before this record
        self.grad_norm = torch.zeros((), device=device)
        self._reset()
        self.restart_clock()

    def _reset(self) -> None:
        self.loss, self.steps, self.images, self.loaded, self.skipped = torch.zeros((), device=self.device), 0, 0, 0, 0
        self.data_wait, self.prepare = 0.0, 0.0
        self._prepare_events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    @contextlib.contextmanager
    def preparing(self):
        """Time the batch's preparation on the device (``Task.on_device``, the low-frequency crop): with CUDA events
        on a GPU, read when the record closes (no sync per step), with the host clock elsewhere."""
        if self.device.type != "cuda":
            started = time.perf_counter()
            yield
            self.prepare += time.perf_counter() - started
            return
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        yield
        end.record()
        self._prepare_events.append((start, end))

    def _prepare_s(self) -> float:
        """Seconds of preparation so far in the record (the device's events complete: called after a sync)."""
        return self.prepare + sum(start.elapsed_time(end) for start, end in self._prepare_events) / 1000

    def state_dict(self, info: DistInfo) -> list[list[float]]:
        """The record so far on every rank (loss sum, steps, images, loaded, skipped, loader wait, elapsed s,
        preparation s)."""
        row = torch.tensor([[float(self.loss), self.steps, self.images, self.loaded, self.skipped, self.data_wait,
                             time.perf_counter() - self.started, self._prepare_s()]], dtype=torch.float64)
        return all_gather_rows(row.to(self.device) if self.device.type == "cuda" else row, info).cpu().tolist()

    def load_state_dict(self, rows: list[list[float]] | None, info: DistInfo) -> None:
        if rows is None or not rows[info.rank][1]:  # saved at a record's end: nothing begun
            return
        loss, self.steps, self.images, self.loaded, self.skipped, self.data_wait, elapsed, *prepare = rows[info.rank]
        self.prepare = prepare[0] if prepare else 0.0  # absent from checkpoints written before it was kept
        self.loss = torch.tensor(loss, device=self.device)
        self.steps, self.images, self.loaded, self.skipped = (int(v) for v in (self.steps, self.images, self.loaded,
                                                                              self.skipped))
        self.started -= elapsed  # the record's time before the stop counts in its epoch_time_s

    def exclude(self, seconds: float) -> None:
        """Leave ``seconds`` (a mid-epoch checkpoint) out of the record's time."""
        self.started += seconds

    def restart_clock(self) -> None:
        if self.device.type == "cuda":  # the record's time ends when its queued work is done
            torch.cuda.synchronize(self.device)
        self.started = time.perf_counter()

    def add(self, loss: torch.Tensor, images: int, loaded: int, skipped: int) -> None:
        self.loss += loss.float()
        self.steps += 1
        self.images += images
        self.loaded += loaded
        self.skipped += skipped

    def check_finite(self, step: int) -> None:
        if not math.isfinite(float(self.loss)):
            raise FloatingPointError(f"the loss became non-finite by step {step}; stopping (checkpoint-last.pth "
                                     f"holds the last finished epoch)")

    def speed(self, info: DistInfo) -> dict:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        memory = torch.cuda.max_memory_allocated(self.device) / 2 ** 20 if self.device.type == "cuda" else 0.0
        return {"perf/images_per_s": self.images * info.world_size / elapsed,
                "perf/step_time_ms": 1000 * elapsed / max(self.steps, 1),
                "perf/data_wait_share": self.data_wait / elapsed, "perf/max_memory_mb": memory}

    def close(self, info: DistInfo) -> dict:
        loss = all_reduce_mean(float(self.loss) / self.steps, info)  # a host sync: the record's steps are done
        elapsed = time.perf_counter() - self.started
        self.train_time += elapsed
        out = {"loss": loss, "images_per_s": self.images * info.world_size / elapsed, "epoch_time_s": elapsed,
               "data_wait_share": round(self.data_wait / elapsed, 4),
               "prepare_share": round(self._prepare_s() / elapsed, 4),
               "train_time_s": round(self.train_time, 3),
               "trained_images": self.images * info.world_size, "loaded_images": self.loaded * info.world_size,
               "grad_norm": float(self.grad_norm),
               "skipped_images": int(round(all_reduce_mean(self.skipped, info) * info.world_size))}
        self._reset()
        return out


def _save(cfg, task: Task, optimizer, scaler, schedule: Schedule, layout: dict, epoch: int, step: int, last: bool,
          out: Path, train_time: float, extra: dict) -> None:
    """``checkpoint-last.pth`` at ``step`` (``epoch``: the last record written), and a numbered copy at the records
    ``run.save_every`` asks for; ``extra``: the partial record, replay buffers and a record left to evaluate."""
    state = {"model": task.model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "epoch": epoch, "step": step, "train_time_s": train_time, "schedule": schedule.to_dict(),
             "layout": layout, "config": to_dict(cfg),
             "rng": rng_state(), "task": task.state_dict(), **extra}
    path = save_atomic(state, out / "checkpoint-last.pth")
    mid_epoch = extra["pending_record"] is not None or bool(extra["partial"][0][1])  # steps into the next record
    if not mid_epoch and (last or (cfg.run.save_every and (epoch + 1) % cfg.run.save_every == 0)):
        save_atomic(state, path.with_name(f"checkpoint-{epoch:04d}.pth"))


def _gather_objects(obj, info: DistInfo) -> list | None:
    """``obj`` of every rank in rank order, on rank 0 (None elsewhere)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size if info.is_main else None
    torch.distributed.gather_object(obj, out, dst=0)
    return out
