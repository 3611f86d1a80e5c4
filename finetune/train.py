"""Supervised fine-tuning (or training from scratch) of a timm model, optionally following a curriculum.

The curriculum for supervised training (EfficientTrain Sec. 4.3): images are augmented at the final size with
RandAugment whose magnitude the schedule sets for every epoch, then low-frequency cropped to the stage's ``B`` on
the device; ViT position embeddings are resampled to the current grid by timm (``dynamic_img_size``). Evaluation
is always at the final size. Mixup/CutMix, label smoothing, random erasing, layer-wise lr decay and EMA come from
timm. Best and last checkpoints are written atomically; ``run.resume=auto`` continues the run.
"""
from __future__ import annotations

import time

import timm
import torch
import yaml
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.utils import ModelEmaV3, accuracy
from torch.nn.parallel import DistributedDataParallel

from curriculum import low_frequency_crop
from engine.checkpoint import (check_same_schedule, load_checkpoint, restore_training_state, rng_state,
                               save_atomic)
from engine.config import build_schedule, to_dict
from engine.data import SeededSamples, SyntheticImages, make_loader
from engine.distributed import DistInfo, all_reduce_mean, run_distributed
from engine.logger import RunLogger
from engine.lr import cosine_lr, scaled_lr, set_lr
from engine.runtime import autocast, resolve_amp, resume_path, seed_everything, train_step
from engine.weights import load_pretrained

from .config import FinetuneConfig
from .datasets import build_dataset
from .transforms import eval_transform, train_transform

__all__ = ["finetune", "build_model"]


def build_model(cfg: FinetuneConfig, num_classes: int, img_size: int) -> torch.nn.Module:
    m = cfg.model
    kwargs = {k: v for k, v in dict(patch_size=m.patch_size, embed_dim=m.embed_dim, depth=m.depth,
                                    num_heads=m.num_heads).items() if v is not None}
    kwargs.update(num_classes=num_classes, drop_path_rate=m.drop_path)
    try:  # ViTs: any input size, pos_embed resampled on the fly
        model = timm.create_model(m.name, img_size=img_size, dynamic_img_size=True, global_pool=m.global_pool,
                                  **kwargs)
    except TypeError:
        model = timm.create_model(m.name, **kwargs)
    if m.pretrained:
        head = ["head.*", "fc.*", "classifier.*", "fc_norm.*"]
        # MAE checkpoints carry the pre-training `norm`, which global pooling replaces with `fc_norm`
        unexpected = ["norm.*"] if getattr(model, "global_pool", None) == "avg" else []
        load_pretrained(model, m.pretrained, expected_missing=head, expected_unexpected=unexpected + ["head.*"])
    return model


def _datasets(cfg: FinetuneConfig, size: int):
    d = cfg.data
    if d.dataset == "synthetic":
        make = lambda split: SyntheticImages(d.synthetic_length, size, d.synthetic_classes,  # noqa: E731
                                             seed=cfg.run.seed + (split == "val"))
        train, val = make("train"), make("val")
    else:
        if d.path is None:
            raise ValueError(f"data.path is required for data.dataset={d.dataset}")
        train = build_dataset(d.dataset, d.path, d.train_split, None, d.on_corrupt)
        val = build_dataset(d.dataset, d.path, d.val_split, None, d.on_corrupt)
    return train, val


def finetune(cfg: FinetuneConfig) -> dict:
    return run_distributed(_finetune, cfg)


def _finetune(cfg: FinetuneConfig, info: DistInfo) -> dict:
    seed_everything(cfg.run.seed)
    device = info.device
    train_set, val_set = _datasets(cfg, cfg.schedule.final_size)
    num_classes = len(train_set.classes)
    model = build_model(cfg, num_classes, cfg.schedule.final_size).to(device)
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", (None,))[0]
    schedule = build_schedule(cfg.schedule, patch)
    train_data = SeededSamples(train_set, cfg.run.seed)
    val_set.transform = eval_transform(cfg.aug, schedule.final_size)
    val_loader = make_loader(val_set, cfg.optim.batch_size, info, cfg.run.seed, cfg.data.num_workers, train=False)

    logger = RunLogger(cfg.run.output_dir, info.is_main, cfg.run.progress)
    amp_dtype = resolve_amp(cfg.run.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    optimizer = create_optimizer_v2(model, "adamw", lr=0.0, weight_decay=cfg.optim.weight_decay,
                                    layer_decay=cfg.optim.layer_decay, betas=tuple(cfg.optim.betas))
    ema = ModelEmaV3(model, decay=cfg.optim.ema_decay) if cfg.optim.ema_decay else None
    mixup = Mixup(mixup_alpha=cfg.aug.mixup, cutmix_alpha=cfg.aug.cutmix, label_smoothing=cfg.aug.smoothing,
                  num_classes=num_classes) if cfg.aug.mixup > 0 or cfg.aug.cutmix > 0 else None
    criterion = SoftTargetCrossEntropy() if mixup else (
        LabelSmoothingCrossEntropy(cfg.aug.smoothing) if cfg.aug.smoothing > 0 else torch.nn.CrossEntropyLoss())

    start_epoch, best = 0, 0.0
    resume = resume_path(cfg.run.resume, cfg.run.output_dir)
    if resume is not None:
        state = load_checkpoint(resume)
        check_same_schedule(state, schedule, resume)
        start_epoch, best = restore_training_state(state, model, optimizer, scaler), state["best_top1"]
        if ema is not None and "ema" in state:
            ema.module.load_state_dict(state["ema"])
        if info.is_main:
            print(f"resumed from {resume} at epoch {start_epoch}")
    if info.is_main:
        print(schedule.table())
        (logger.dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

    train_model = model
    if info.distributed:
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.run.compile:
        train_model = torch.compile(train_model)

    loader, batch_key, record = None, None, {}
    for epoch in range(start_epoch, schedule.epochs):
        stage = schedule.at(epoch)
        batch = max(1, round(cfg.optim.batch_size * stage.batch_scale))
        train_set.transform = train_transform(cfg.aug, schedule.final_size, stage.magnitude)
        if batch != batch_key:
            loader, batch_key = make_loader(train_data, batch, info, cfg.run.seed, cfg.data.num_workers, True), batch
        train_data.set_epoch(epoch)
        loader.sampler.set_epoch(epoch)
        global_batch = batch * info.world_size * cfg.optim.accum_iter
        base_lr = scaled_lr(cfg.optim.blr, global_batch) * stage.lr_scale
        record = _train_epoch(train_model, model, loader, optimizer, scaler, amp_dtype, mixup, criterion, ema, cfg,
                              schedule, epoch, base_lr, logger, info)
        evaluated = ema.module if ema is not None else model
        record.update(_evaluate(evaluated, val_loader, amp_dtype, info))
        record.update(epoch=epoch, stage=stage.stage, size=stage.size, magnitude=round(stage.magnitude, 3),
                      batch=batch)
        logger.scalars({f"val/{k}": record[k] for k in ("top1", "top5", "loss")}, epoch)
        is_best = record["top1"] > best
        best = max(best, record["top1"])
        record["best_top1"] = best
        logger.epoch(record)
        if info.is_main:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                     "epoch": epoch, "best_top1": best, "config": to_dict(cfg), "schedule": schedule.to_dict(),
                     "rng": rng_state(), **({"ema": ema.module.state_dict()} if ema is not None else {})}
            save_atomic(state, logger.dir / "checkpoint-last.pth")
            if is_best:
                save_atomic({"model": evaluated.state_dict(), "epoch": epoch, "top1": best}, logger.dir / "best.pth")
    logger.close()
    return record


def _train_epoch(train_model, model, loader, optimizer, scaler, amp_dtype, mixup, criterion, ema, cfg, schedule,
                 epoch, base_lr, logger: RunLogger, info: DistInfo) -> dict:
    stage = schedule.at(epoch)
    device, accum, steps = info.device, cfg.optim.accum_iter, len(loader)
    train_model.train()
    optimizer.zero_grad(set_to_none=True)
    loss_sum, seen, started = 0.0, 0, time.perf_counter()
    bar = logger.bar(steps, f"epoch {epoch + 1}/{schedule.epochs} B={stage.size} m={stage.magnitude:.1f}")
    for step, (images, targets, _, _) in enumerate(loader):
        lr = cosine_lr(epoch + step / steps, base_lr, schedule.epochs, cfg.optim.warmup_epochs, cfg.optim.min_lr)
        set_lr(optimizer, lr)
        images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        if images.shape[-1] != stage.size:
            images = low_frequency_crop(images, stage.size)
        if mixup is not None:
            images, targets = mixup(images, targets)
        update = (step + 1) % accum == 0 or step + 1 == steps

        def compute_loss():
            with autocast(device, amp_dtype):
                return criterion(train_model(images), targets)
        loss = train_step(compute_loss, train_model, optimizer, scaler, accum=accum, update=update,
                          distributed=info.distributed, clip_grad=cfg.optim.clip_grad, where=f"epoch {epoch} step {step}")
        if update:
            if ema is not None:
                ema.update(model)
        loss_sum += loss.item()
        seen += images.shape[0]
        if info.is_main and step % 10 == 0:
            logger.scalars({"train/loss": loss.item(), "train/lr": lr, "curriculum/size": stage.size,
                            "curriculum/magnitude": stage.magnitude}, int(1000 * (epoch + step / steps)))
        bar.set_postfix(loss=f"{loss.item():.4f}")
        bar.update()
    bar.close()
    elapsed = time.perf_counter() - started
    return {"train_loss": all_reduce_mean(loss_sum / steps, info), "lr": lr,
            "images_per_s": seen * info.world_size / elapsed}


@torch.no_grad()
def _evaluate(model, loader, amp_dtype, info: DistInfo) -> dict:
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64)  # loss sum, top1 hits, top5 hits, count
    for images, targets, _, _ in loader:
        images, targets = images.to(info.device), targets.to(info.device)
        with autocast(info.device, amp_dtype):
            logits = model(images)
        top1, top5 = accuracy(logits.float(), targets, topk=(1, min(5, logits.shape[1])))
        n = images.shape[0]
        totals += torch.tensor([torch.nn.functional.cross_entropy(logits.float(), targets).item() * n,
                                top1.item() * n / 100, top5.item() * n / 100, n], dtype=torch.float64)
    if info.distributed:
        torch.distributed.all_reduce(totals)
    return {"loss": float(totals[0] / totals[3]), "top1": float(100 * totals[1] / totals[3]),
            "top5": float(100 * totals[2] / totals[3])}
