"""MAE pre-training loop that follows a curriculum schedule in one process.

At the start of every epoch the schedule gives the stage: input size ``B``, batch multiplier, lr multiplier and
replay factor. When they change, the data loader is rebuilt with the new batch size (and, for ``crop_on=loader``,
the new per-image crop) without restarting anything. Checkpoints are written atomically at the end of every epoch;
resuming replays the stage switches from the saved epoch, so the remaining schedule is the same as in an
uninterrupted run. Masks and augmentations are functions of ``(seed, epoch, sample index)``, which makes a
resumed run, and a run on a different number of processes with the same global batch, reproduce the same losses.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import torch
import yaml
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.optim import param_groups_weight_decay
from torch.nn.parallel import DistributedDataParallel

from curriculum import ReplayBuffer, Schedule, cost_report, low_frequency_crop
from curriculum.cost import ViTCost
from engine.checkpoint import (check_same_schedule, load_checkpoint, restore_training_state, rng_state,
                               save_atomic)
from engine.config import build_schedule, to_dict
from engine.data import make_loader
from engine.distributed import DistInfo, all_reduce_mean, run_distributed
from engine.logger import RunLogger
from engine.lr import cosine_lr, scaled_lr, set_lr
from engine.runtime import autocast, resolve_amp, resume_path, seed_everything, train_step

from .config import PretrainConfig
from .data import build_dataset, train_transform
from .model import MaskedAutoencoderViT, build_mae, encoder_state_dict, masking_noise, patchify, unpatchify

__all__ = ["pretrain", "sample_keys"]


def sample_keys(indices: torch.Tensor, seed: int, epoch: int, replay_round: int) -> torch.Tensor:
    """One int64 key per sample for its mask: a function of the sample, never of its rank or batch position."""
    return ((indices.to(torch.int64) * 1_000_003 + seed) * 100_003 + epoch) * 17 + replay_round


def _model_cost(model: MaskedAutoencoderViT) -> ViTCost:
    a = model.arch
    return ViTCost(a.depth, a.embed_dim, a.patch_size, a.mlp_ratio, mask_ratio=model.mask_ratio,
                   decoder_depth=a.decoder_depth, decoder_dim=a.decoder_embed_dim)


class _Denormalize:
    def __init__(self, device):
        self.mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_DEFAULT_STD, device=device).view(1, 3, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.std + self.mean


def _log_reconstructions(logger: RunLogger, model: MaskedAutoencoderViT, full: torch.Tensor, cropped: torch.Tensor,
                         keys: torch.Tensor, epoch: int) -> None:
    """Inputs, their low-frequency crops, the masked inputs and the reconstructions (4 samples)."""
    denorm = _Denormalize(full.device)
    p = model.arch.patch_size
    with torch.no_grad():
        images = cropped[:4].float()
        noise = masking_noise(keys[:4], model.grid(images.shape[-1]) ** 2)
        _, pred, mask = model(images, noise)
        target = patchify(images, p)
        if model.norm_pix_loss:  # undo the per-patch normalisation with the target's statistics
            pred = pred * (target.var(-1, keepdim=True) + 1e-6) ** 0.5 + target.mean(-1, keepdim=True)
        visible = unpatchify(target * (1 - mask[..., None]), p)
        recon = unpatchify(pred * mask[..., None] + target * (1 - mask[..., None]), p)
    logger.images("images/input", denorm(full[:4]), epoch)
    logger.images("images/low_frequency_crop", denorm(images), epoch)
    logger.images("images/masked", denorm(visible), epoch)
    logger.images("images/reconstruction", denorm(recon), epoch)


def pretrain(cfg: PretrainConfig) -> dict:
    """Run (or resume) pre-training; returns the last epoch's record."""
    return run_distributed(_pretrain, cfg)


def _pretrain(cfg: PretrainConfig, info: DistInfo) -> dict:
    if cfg.data.crop_on not in ("device", "loader"):
        raise ValueError(f"data.crop_on must be 'device' or 'loader', got {cfg.data.crop_on!r}")
    seed_everything(cfg.run.seed)
    device = info.device
    m = cfg.model
    model = build_mae(m.name, m.mask_ratio, m.norm_pix_loss, patch_size=m.patch_size, embed_dim=m.embed_dim,
                      depth=m.depth, num_heads=m.num_heads, decoder_embed_dim=m.decoder_embed_dim,
                      decoder_depth=m.decoder_depth, decoder_num_heads=m.decoder_num_heads).to(device)
    schedule = build_schedule(cfg.schedule, model.arch.patch_size)
    for stage in schedule.stages:
        model.grid(stage.size)  # every size must fit the patch grid before anything runs
    dataset = build_dataset(cfg.data, schedule.final_size, cfg.run.seed)
    logger = RunLogger(cfg.run.output_dir, info.is_main, cfg.run.progress)
    amp_dtype = resolve_amp(cfg.run.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    groups = param_groups_weight_decay(model, cfg.optim.weight_decay, model.no_weight_decay())
    optimizer = torch.optim.AdamW(groups, lr=0.0, betas=tuple(cfg.optim.betas))
    start_epoch = 0
    resume = resume_path(cfg.run.resume, cfg.run.output_dir)
    if resume is not None:
        state = load_checkpoint(resume)
        check_same_schedule(state, schedule, resume)
        start_epoch = restore_training_state(state, model, optimizer, scaler)
        if info.is_main:
            print(f"resumed from {resume} at epoch {start_epoch} (stage {schedule.at(start_epoch).stage})"
                  if start_epoch < schedule.epochs else f"{resume} already finished all {schedule.epochs} epochs")

    if info.is_main:
        report = cost_report(schedule, _model_cost(model))
        print(schedule.table(list(report.stage_cost_per_epoch)))
        print(f"cost model: {report.summary()} versus {schedule.epochs} epochs at B={schedule.final_size}")
        (logger.dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

    train_model = model
    if info.distributed:
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.run.compile:
        train_model = torch.compile(train_model, dynamic=False)

    loader, loader_key, record = None, None, {}
    for epoch in range(start_epoch, schedule.epochs):
        stage = schedule.at(epoch)
        batch = max(1, round(cfg.optim.batch_size * stage.batch_scale))
        loader_crop = stage.size if cfg.data.crop_on == "loader" else None
        if (batch, loader_crop) != loader_key:
            dataset.dataset.transform = train_transform(schedule.final_size, cfg.data.min_scale, loader_crop)
            loader = make_loader(dataset, batch, info, cfg.run.seed, cfg.data.num_workers, train=True)
            loader_key = (batch, loader_crop)
            if len(loader) == 0:
                raise ValueError(f"the dataset ({len(dataset)} images) is smaller than one global batch "
                                 f"({batch} x {info.world_size}); lower optim.batch_size")
        dataset.set_epoch(epoch)
        loader.sampler.set_epoch(epoch)
        global_batch = batch * info.world_size * cfg.optim.accum_iter
        base_lr = scaled_lr(cfg.optim.blr, global_batch) * stage.lr_scale
        record = _train_epoch(train_model, model, loader, optimizer, scaler, amp_dtype, cfg, schedule, epoch,
                              base_lr, logger, info)
        record.update(epoch=epoch, stage=stage.stage, size=stage.size, batch=batch, global_batch=global_batch)
        logger.epoch(record)
        if info.is_main:
            _save(cfg, model, optimizer, scaler, schedule, epoch)
    if info.is_main and schedule.epochs > 0:
        save_atomic({"model": encoder_state_dict(model, schedule.final_size), "arch": asdict(model.arch),
                     "img_size": schedule.final_size}, logger.dir / "encoder.pth")
    logger.close()
    return record


def _save(cfg: PretrainConfig, model, optimizer, scaler, schedule: Schedule, epoch: int) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "epoch": epoch, "schedule": schedule.to_dict(), "config": to_dict(cfg), "rng": rng_state(),
             "arch": asdict(model.arch)}
    out = save_atomic(state, f"{cfg.run.output_dir}/checkpoint-last.pth")
    last = epoch + 1 == schedule.epochs
    if last or (cfg.run.save_every and (epoch + 1) % cfg.run.save_every == 0):
        save_atomic(state, out.with_name(f"checkpoint-{epoch:04d}.pth"))


def _train_epoch(train_model, model: MaskedAutoencoderViT, loader, optimizer, scaler, amp_dtype, cfg, schedule,
                 epoch: int, base_lr: float, logger: RunLogger, info: DistInfo) -> dict:
    stage = schedule.at(epoch)
    device, accum = info.device, cfg.optim.accum_iter
    generator = torch.Generator().manual_seed(cfg.run.seed * 100_003 + epoch)
    replay = ReplayBuffer(stage.replay, cfg.data.replay_capacity or loader.batch_size, generator)
    steps = len(loader) * stage.replay
    train_model.train()
    optimizer.zero_grad(set_to_none=True)
    loss_sum, images_seen, skipped, started = 0.0, 0, 0, time.perf_counter()
    bar = logger.bar(steps, f"epoch {epoch + 1}/{schedule.epochs} B={stage.size}")

    def batches():
        nonlocal skipped
        for images, _, indices, bad in loader:
            skipped += int(bad.sum())
            yield images.to(device, non_blocking=True), indices.to(device)

    for step, (replay_round, (full, indices)) in enumerate(replay(batches())):
        lr = cosine_lr(epoch + step / steps, base_lr, schedule.epochs, cfg.optim.warmup_epochs,
                       cfg.optim.min_lr)
        set_lr(optimizer, lr)
        images = low_frequency_crop(full, stage.size) if full.shape[-1] != stage.size else full
        keys = sample_keys(indices, cfg.run.seed, epoch, replay_round)
        noise = masking_noise(keys, model.grid(stage.size) ** 2)
        update = (step + 1) % accum == 0 or step + 1 == steps

        def compute_loss():
            with autocast(device, amp_dtype):
                return train_model(images, noise)[0]
        loss = train_step(compute_loss, train_model, optimizer, scaler, accum=accum, update=update,
                          distributed=info.distributed, clip_grad=cfg.optim.clip_grad, where=f"epoch {epoch} step {step}")
        loss_sum += loss.item()
        images_seen += images.shape[0]
        if info.is_main and (step % 10 == 0 or step + 1 == steps):
            elapsed = time.perf_counter() - started
            logger.scalars({"train/loss": loss.item(), "train/lr": lr, "curriculum/size": stage.size,
                            "curriculum/batch_size": images.shape[0], "curriculum/stage": stage.stage,
                            "perf/images_per_s": images_seen * info.world_size / elapsed,
                            "perf/step_time_ms": 1000 * elapsed / (step + 1),
                            "perf/max_memory_mb": (torch.cuda.max_memory_allocated(device) / 2 ** 20
                                                   if device.type == "cuda" else 0.0)},
                           int(1000 * (epoch + step / steps)))  # x axis in milli-epochs: steps/epoch vary
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")
        bar.update()
    bar.close()
    elapsed = time.perf_counter() - started
    if info.is_main and cfg.run.log_images_every and (epoch % cfg.run.log_images_every == 0
                                                      or epoch + 1 == schedule.epochs):
        _log_reconstructions(logger, model, full, images, keys, epoch)
    skipped_total = int(round(all_reduce_mean(skipped, info) * info.world_size))
    if skipped_total:
        logger.scalars({"data/corrupt_images_skipped": skipped_total}, epoch)
    return {"loss": all_reduce_mean(loss_sum / steps, info), "lr": lr,
            "images_per_s": images_seen * info.world_size / elapsed, "epoch_time_s": elapsed,
            "skipped_images": skipped_total}
