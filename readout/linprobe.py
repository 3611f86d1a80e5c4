"""Linear probing of a frozen encoder, MAE's protocol (facebookresearch/mae ``main_linprobe.py``; He et al. 2022,
App. A.2: ViT-B 68.0 %, ViT-L 75.8 % on ImageNet-1K).

``python -m readout.linprobe --config configs/readout/linprobe_mae_vit_base_in1k.yaml --set data.path=...
--set model.pretrained=...`` (under torchrun for several GPUs or nodes).

* The encoder is frozen and stays in eval mode for the whole probe (``LinearProbe.train`` keeps it there, so a
  backbone's BatchNorm statistics never move: lightly #1440 is this bug); its ``state_dict`` is bit-identical
  afterwards. The head is MAE's: ``BatchNorm1d(affine=False, eps=1e-6)`` in train mode, then ``Linear`` with
  truncated-normal weights (std 0.01, MoCo v3) and zero bias.
* ``mode: protocol`` (default) runs MAE's protocol through the training loop (``engine.loop``): RandomResizedCrop and
  flip every step, LARS (``readout.lars``), ``lr = 0.1 x global batch / 256``, 10 warm-up epochs then cosine, the
  global batch from ``optim.global_batch`` on any number of processes, atomic checkpoints with resume, evaluation
  (resize + centre crop) after every epoch, records, TensorBoard and a progress bar.
* ``mode: cached`` extracts the features of the un-augmented training images once and trains the same head with the
  same optimiser and schedule on them: minutes on a CPU, but not MAE's protocol, and every output says so.

The result reported is the last epoch's (``result.json`` in the output folder), never the best.
"""
from __future__ import annotations

import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_

from curriculum import make_preset
from engine.batch import resolve_accumulation
from engine.classify import evaluate
from engine.cli import main_guard
from engine.config import parse_args, refuse_unused, to_dict
from engine.distributed import DistInfo, run_distributed
from engine.logger import RunLogger
from engine.loop import Task, train
from engine.lr import cosine_lr, scaled_lr, set_lr
from engine.runtime import resolve_amp

from .config import ProbeConfig, ProbeOptim
from .data import Transformed, eval_transform, probe_train_transform
from .encoder import prepare
from .features import check_pools, dataset_features, feature_dim, pooled_features, shard_loader
from .lars import LARS

__all__ = ["LinearProbe", "probe_head", "ProbeTask", "train_head", "linear_probe", "MODES"]

MODES = {"protocol": "MAE linear-probe protocol",
         "cached": "cached features: un-augmented images, features extracted once (not MAE's protocol)"}


def probe_head(dim: int, num_classes: int) -> nn.Sequential:
    """MAE's probe head: ``BatchNorm1d(dim, affine=False, eps=1e-6)`` then ``Linear`` (trunc-normal std 0.01, zero
    bias)."""
    linear = nn.Linear(dim, num_classes)
    trunc_normal_(linear.weight, std=0.01)
    nn.init.zeros_(linear.bias)
    return nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), linear)


class LinearProbe(nn.Module):
    """A frozen encoder, always in eval mode, and ``probe_head`` on its ``pool`` features."""

    def __init__(self, encoder: nn.Module, num_classes: int, pool: str = "cls"):
        super().__init__()
        check_pools(encoder, [pool])
        self.encoder, self.pool = encoder.requires_grad_(False).eval(), pool
        self.head = probe_head(feature_dim(encoder), num_classes)

    def train(self, mode: bool = True) -> "LinearProbe":
        super().train(mode)
        self.encoder.eval()
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """What the head sees."""
        with torch.no_grad():
            return pooled_features(self.encoder, images, [self.pool])[self.pool]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


class ProbeTask(Task):
    """MAE's probe as a task of the training loop: augmented images through the frozen encoder every step."""

    def __init__(self, cfg: ProbeConfig, info: DistInfo, encoder: nn.Module, num_classes: int, val_set):
        self.cfg, self.info = cfg, info
        self.model = LinearProbe(encoder, num_classes, cfg.pool).to(info.device)
        o = cfg.optim
        self.optimizer = LARS(self.model.head.parameters(), weight_decay=o.weight_decay, momentum=o.momentum,
                              trust_coefficient=o.trust_coefficient)
        self.amp = resolve_amp(cfg.run.amp, info.device, None)
        val = Transformed(val_set, eval_transform(cfg.model.img_size, cfg.data.crop_pct))
        self.val_loader = shard_loader(val, info, o.batch_size, cfg.data.num_workers)

    def transform(self, values):
        return probe_train_transform(self.cfg.model.img_size)

    def loss(self, model, images, targets, keys, step):
        return F.cross_entropy(model(images), targets)

    def end_of_record(self, record: dict, logger: RunLogger, log_images: bool) -> dict:
        result = evaluate(self.model, self.val_loader, self.info, self.amp)
        self.model.train()
        logger.scalars({f"val/{k}": v for k, v in result.items()}, record["step"])
        return {"mode": MODES["protocol"], "val_loss": result["loss"], "top1": result["top1"], "top5": result["top5"]}


def _cached_probe(cfg: ProbeConfig, info: DistInfo, encoder: nn.Module, num_classes: int, train_set, val_set,
                  logger: RunLogger) -> dict:
    """The head trained on features extracted once from the un-augmented images (every process trains the same
    head on all of them)."""
    amp = resolve_amp(cfg.run.amp, info.device, None)
    transform = eval_transform(cfg.model.img_size, cfg.data.crop_pct)
    started = time.perf_counter()
    extract = dict(pools=[cfg.pool], info=info, batch_size=cfg.optim.batch_size, num_workers=cfg.data.num_workers,
                   amp_dtype=amp)
    features, train_y = dataset_features(encoder, Transformed(train_set, transform), **extract)
    train_x = features[cfg.pool]
    features, val_y = dataset_features(encoder, Transformed(val_set, transform), **extract)
    val_x = features[cfg.pool]
    extract_time = time.perf_counter() - started
    if info.is_main:
        print(f"{MODES['cached']}: {train_x.shape[0]} training and {val_x.shape[0]} validation features of dimension "
              f"{train_x.shape[1]} in {extract_time:.1f} s")
    return train_head(train_x, train_y, val_x, val_y, num_classes, cfg.optim, cfg.epochs, cfg.run.seed, logger,
                      {"extract_time_s": round(extract_time, 3)})


def train_head(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
               num_classes: int, optim: ProbeOptim, epochs: int, seed: int, logger: RunLogger | None = None,
               extra: dict | None = None) -> dict:
    """``probe_head`` trained on fixed features with LARS and the probe's schedule (per-step warm-up then cosine,
    ``lr = blr x batch / 256``; the last partial batch dropped, as MAE's loader does), evaluated after every epoch;
    returns the last epoch's record (``mode`` says it is the cached mode)."""
    head = probe_head(train_x.shape[1], num_classes).to(train_x.device)
    optimizer = LARS(head.parameters(), weight_decay=optim.weight_decay, momentum=optim.momentum,
                     trust_coefficient=optim.trust_coefficient)
    batch = min(optim.global_batch or optim.batch_size, train_x.shape[0])
    steps = train_x.shape[0] // batch
    base_lr = scaled_lr(optim.blr, batch)
    generator = torch.Generator().manual_seed(seed)
    record, train_time = {}, 0.0
    bar = logger.bar(epochs, "probe") if logger is not None else None
    for epoch in range(epochs):
        started = time.perf_counter()
        head.train()
        order = torch.randperm(train_x.shape[0], generator=generator).to(train_x.device)
        losses = []
        for i in range(steps):
            lr = cosine_lr(epoch + i / steps, base_lr, epochs, optim.warmup_epochs, optim.min_lr)
            set_lr(optimizer, lr)
            rows = order[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(head(train_x[rows]), train_y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        train_time += time.perf_counter() - started
        head.eval()
        with torch.no_grad():
            logits = head(val_x)
        top5 = logits.topk(min(5, num_classes), dim=1).indices.eq(val_y[:, None]).any(1).float().mean() * 100
        record = {"epoch": epoch, "mode": MODES["cached"], "loss": float(torch.stack(losses).mean()), "lr": lr,
                  "val_loss": float(F.cross_entropy(logits, val_y)),
                  "top1": float((logits.argmax(1) == val_y).float().mean() * 100), "top5": float(top5),
                  "train_time_s": round(train_time, 3), **(extra or {})}
        if logger is not None:
            bar.update()
            logger.epoch(record)
            logger.scalars({"train/loss": record["loss"], "train/lr": lr, "val/top1": record["top1"],
                            "val/top5": record["top5"]}, epoch)
    if bar is not None:
        bar.close()
    return record


def linear_probe(cfg: ProbeConfig) -> dict:
    """Run (or resume) the probe; returns the last epoch's record."""
    return run_distributed(_linear_probe, cfg)


def _linear_probe(cfg: ProbeConfig, info: DistInfo) -> dict:
    refuse_unused(cfg, ["run.log_images_every"], "the linear probe (it logs no images)")
    if cfg.mode == "cached":
        refuse_unused(cfg, ["run.resume", "run.compile", "run.save_every", "run.save_minutes", "optim.accum_iter",
                            "optim.clip_grad"],
                      "the cached probe (minutes on fixed features, outside the training loop)")
    report = print if info.is_main else None
    train_set, val_set, encoder = prepare(cfg, info)
    check_pools(encoder, [cfg.pool])
    num_classes = len(train_set.classes)
    logger = RunLogger(cfg.run.output_dir, info.is_main, cfg.run.progress)
    try:
        if cfg.mode == "cached":
            record = _cached_probe(cfg, info, encoder, num_classes, train_set, val_set, logger)
        else:
            resolve_accumulation(cfg.optim, info.world_size, report)
            # one stage at the probe's size; magnitude 0 as the probe has no RandAugment
            schedule = make_preset("baseline", cfg.epochs, final_size=cfg.model.img_size, magnitude=0.0)
            task = ProbeTask(cfg, info, encoder, num_classes, val_set)
            record = train(task, cfg, info, schedule, train_set, logger, report=MODES["protocol"])
    finally:
        logger.close()
    if info.is_main and record:
        result = {"readout": "linear probe", "mode": MODES[cfg.mode], "encoder": cfg.model.pretrained or
                  "random initialisation", "pool": cfg.pool, "epochs": cfg.epochs, "top1": record["top1"],
                  "top5": record["top5"], "train_time_s": record["train_time_s"], "config": to_dict(cfg)}
        (logger.dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"linear probe ({MODES[cfg.mode]}), {cfg.pool} features of {result['encoder']}: top-1 "
              f"{record['top1']:.2f} %, top-5 {record['top5']:.2f} % after {cfg.epochs} epochs (the last epoch)")
    return record


@main_guard()
def main(argv=None) -> None:
    linear_probe(parse_args(ProbeConfig, "Linear probe of a frozen encoder (MAE's protocol, or cached features)",
                            argv))


if __name__ == "__main__":
    main()
