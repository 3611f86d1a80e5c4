"""Supervised fine-tuning (or training from scratch) of a timm model as a task of the curriculum training loop.

The curriculum for supervised training (EfficientTrain Sec. 4.3): images are augmented at the final size with
RandAugment whose magnitude the schedule sets for every step (magnitude 0 keeps the magnitude-free operations, as
the official ``rand-m0-mstd0.5-inc1``), then low-frequency cropped to the stage's ``B`` (``schedule.low_frequency``);
ViT position embeddings are resampled to the current grid by timm (``dynamic_img_size``). Evaluation is always at
the final size, after every epoch. Mixup/CutMix, label smoothing, random erasing, layer-wise lr decay and EMA come
from timm. ``best.pth`` is written atomically beside the loop's checkpoints.
"""
from __future__ import annotations

from typing import Callable

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.utils import ModelEmaV3

from curriculum import FAMILIES, StageValues, ViTCost, build_schedule
from curriculum.presets import family_of
from engine.batch import resolve_accumulation
from engine.checkpoint import save_atomic
from engine.classify import evaluate
from engine.data import SyntheticImages, make_eval_loader
from engine.distributed import DistInfo, run_distributed
from engine.logger import RunLogger
from engine.loop import Task, train
from engine.runtime import fused_optimizer, seed_everything
from engine.weights import describe_load, load_pretrained

from .config import FinetuneConfig
from .datasets import build_dataset
from .transforms import device_transform, eval_transform, train_transform

__all__ = ["finetune", "build_model", "FinetuneTask"]


def build_model(cfg: FinetuneConfig, num_classes: int, img_size: int, drop_path: float | None = None,
                report: Callable[[str], None] | None = None) -> torch.nn.Module:
    """The timm model of ``cfg.model``; ``model.pretrained`` is loaded and, with ``report``, described in one line."""
    m = cfg.model
    kwargs = {k: v for k, v in dict(patch_size=m.patch_size, embed_dim=m.embed_dim, depth=m.depth,
                                    num_heads=m.num_heads).items() if v is not None}
    kwargs.update(num_classes=num_classes, drop_path_rate=m.drop_path if drop_path is None else drop_path)
    try:  # ViTs: any input size, pos_embed resampled on the fly
        model = timm.create_model(m.name, img_size=img_size, dynamic_img_size=True, global_pool=m.global_pool,
                                  **kwargs)
    except TypeError:
        model = timm.create_model(m.name, **kwargs)
    if m.pretrained:
        head = ["head.*", "fc.*", "classifier.*", "fc_norm.*"]
        # MAE checkpoints carry the pre-training `norm`, which global pooling replaces with `fc_norm`
        unexpected = ["norm.*"] if getattr(model, "global_pool", None) == "avg" else []
        result = load_pretrained(model, m.pretrained, expected_missing=head,
                                 expected_unexpected=unexpected + ["head.*", "fc_norm.*"])
        if report is not None:
            report(describe_load("model", m.pretrained, result))
    return model


def _datasets(cfg: FinetuneConfig):
    d = cfg.data
    if d.dataset == "synthetic":
        size = cfg.schedule.final_size
        return (SyntheticImages(d.synthetic_length, size, d.synthetic_classes, seed=cfg.run.seed),
                SyntheticImages(d.synthetic_length, size, d.synthetic_classes, seed=cfg.run.seed + 1))
    if d.path is None:
        raise ValueError(f"data.path is required for data.dataset={d.dataset}")
    return (build_dataset(d.dataset, d.path, d.train_split, None, d.on_corrupt),
            build_dataset(d.dataset, d.path, d.val_split, None, d.on_corrupt))


class FinetuneTask(Task):
    def __init__(self, cfg: FinetuneConfig, info: DistInfo, num_classes: int, val_set, final_size: int,
                 drop_path: float | None):
        self.cfg, self.info, self.final_size = cfg, info, final_size
        self.model = build_model(cfg, num_classes, final_size, drop_path,
                                 print if info.is_main else None).to(info.device)
        self.optimizer = create_optimizer_v2(self.model, "adamw", lr=0.0, weight_decay=cfg.optim.weight_decay,
                                             layer_decay=cfg.optim.layer_decay, betas=tuple(cfg.optim.betas),
                                             fused=fused_optimizer(info.device))
        self.ema = ModelEmaV3(self.model, decay=cfg.optim.ema_decay) if cfg.optim.ema_decay else None
        a = cfg.aug
        self.mixup = Mixup(mixup_alpha=a.mixup, cutmix_alpha=a.cutmix, label_smoothing=a.smoothing,
                           num_classes=num_classes) if a.mixup > 0 or a.cutmix > 0 else None
        self.criterion = SoftTargetCrossEntropy() if self.mixup else (
            LabelSmoothingCrossEntropy(a.smoothing) if a.smoothing > 0 else torch.nn.CrossEntropyLoss())
        val_set.transform = eval_transform(a, final_size)
        self.val_loader = make_eval_loader(val_set, cfg.optim.batch_size, info, cfg.data.num_workers)
        self.device_transform = device_transform(a, cfg.data.decode, cfg.schedule.low_frequency, cfg.run.seed,
                                                 info.device)
        self.best = 0.0
        self._last_images: torch.Tensor | None = None

    def transform(self, values: StageValues):
        return train_transform(self.cfg.aug, self.final_size, values.magnitude, values.size,
                               self.cfg.schedule.low_frequency, self.cfg.data.decode)

    def on_device(self, images: torch.Tensor, keys: torch.Tensor, values: StageValues) -> torch.Tensor:
        return self.device_transform(images, keys, values)

    def cost(self, size: int) -> float:
        """FLOPs of a timm ViT (``curriculum.ViTCost``); pixels for other models (convolutions scale with them)."""
        embed, blocks = getattr(self.model, "patch_embed", None), getattr(self.model, "blocks", None)
        if embed is None or blocks is None:
            return super().cost(size)
        dim = self.model.embed_dim
        return ViTCost(len(blocks), dim, embed.patch_size[0], blocks[0].mlp.fc1.out_features / dim,
                       cls_token=getattr(self.model, "cls_token", None) is not None)(size)

    def loss(self, model, images, targets, keys, step):
        if self.mixup is not None:
            images, targets = self.mixup(images, targets)
        self._last_images = images
        return self.criterion(model(images), targets)

    def after_update(self) -> None:
        if self.ema is not None:
            self.ema.update(self.model)

    def end_of_record(self, record: dict, logger: RunLogger, log_images: bool) -> dict:
        if log_images and self._last_images is not None:  # what the model trains on: augmented, mixed, cropped
            mean, std = (torch.tensor(v, device=self._last_images.device).view(1, 3, 1, 1)
                         for v in (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD))
            logger.images("images/train_input", self._last_images[:8].float() * std + mean, record["epoch"])
        evaluated = self.ema.module if self.ema is not None else self.model
        result = evaluate(evaluated, self.val_loader, self.info)
        self.model.train()
        logger.scalars({f"val/{k}": v for k, v in result.items()}, record["step"])
        if result["top1"] > self.best and self.info.is_main:
            save_atomic({"model": evaluated.state_dict(), "epoch": record["epoch"], "top1": result["top1"]},
                        logger.dir / "best.pth")
        self.best = max(self.best, result["top1"])
        return {**result, "best_top1": self.best}

    def state_dict(self) -> dict:
        return {"best_top1": self.best, **({"ema": self.ema.module.state_dict()} if self.ema is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best_top1", 0.0)
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])


def finetune(cfg: FinetuneConfig) -> dict:
    return run_distributed(_finetune, cfg)


def _finetune(cfg: FinetuneConfig, info: DistInfo) -> dict:
    seed_everything(cfg.run.seed)
    family = cfg.schedule.family or family_of(cfg.model.name)
    train_set, val_set = _datasets(cfg)
    if len(train_set) == 0:
        raise ValueError("the training set is empty")
    drop_path = cfg.model.drop_path
    if drop_path is None:  # the ET++ family's budget-scaled drop path (official --drop_path d * E / 200)
        if cfg.schedule.preset != "efficienttrain++" or FAMILIES[family].drop_path(cfg.schedule.epochs) is None:
            raise ValueError("model.drop_path=null takes the efficienttrain++ family's budget-scaled value; set "
                             "schedule.preset=efficienttrain++ with a family that has one, or give a number")
        drop_path = FAMILIES[family].drop_path(cfg.schedule.epochs)
    task = FinetuneTask(cfg, info, len(train_set.classes), val_set, cfg.schedule.final_size, drop_path)
    patch = getattr(getattr(task.model, "patch_embed", None), "patch_size", (None,))[0]
    report = print if info.is_main else None
    accum = resolve_accumulation(cfg.optim, info.world_size, report)
    schedule = build_schedule(cfg.schedule, patch, report, default_family=family, accum_iter=accum)
    if schedule.final_size != cfg.schedule.final_size:
        raise ValueError(f"schedule.final_size={cfg.schedule.final_size} is not a multiple of the patch size {patch}")
    logger = RunLogger(cfg.run.output_dir, info.is_main, cfg.run.progress)
    try:
        return train(task, cfg, info, schedule, train_set, logger,
                     report=f"drop path {drop_path:g}" + (f" (efficienttrain++ {family})"
                                                          if cfg.model.drop_path is None else ""))
    finally:
        logger.close()
