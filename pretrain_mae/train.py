"""MAE pre-training as a task of the curriculum training loop (``engine.loop``).

The loop gives every step its stage: input size ``B``, batch, lr, replay. The task builds the MAE (``model.py``),
AdamW without weight decay on norms, biases and tokens (MAE ``main_pretrain.py``), the loader transform of a stage
(``data.py``), and the loss: masks on the current ``B/p x B/p`` grid from per-sample keys, so a resumed run and a
run on another number of processes with the same global batch reproduce the same losses. With an ``eval:`` section
it draws a kNN curve of the encoder (``readout.curve``) into the records and TensorBoard, timed apart from training.
At the end it writes ``encoder.pth`` in timm naming.
"""
from __future__ import annotations

import time
from dataclasses import asdict, fields

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.optim import param_groups_weight_decay

from curriculum import StageValues, build_schedule, cost_report
from engine.batch import resolve_accumulation
from engine.checkpoint import save_atomic
from engine.config import refuse_unused
from engine.crop import normalize_on_device
from engine.distributed import DistInfo, run_distributed
from engine.logger import RunLogger
from engine.loop import Task, train
from engine.runtime import fused_optimizer, resolve_amp, seed_everything
from readout.curve import KNNMonitor

from .config import PretrainConfig
from .data import build_dataset, train_transform
from .model import MAEArch, MaskedAutoencoderViT, mae_arch, encoder_state_dict, masking_noise, patchify, unpatchify

__all__ = ["pretrain", "MAETask", "mask_keys"]


def arch_of(cfg: PretrainConfig) -> MAEArch:
    """The architecture the ``model:`` section asks for."""
    m = cfg.model
    return mae_arch(m.name, patch_size=m.patch_size, embed_dim=m.embed_dim, depth=m.depth, num_heads=m.num_heads,
                    decoder_embed_dim=m.decoder_embed_dim, decoder_depth=m.decoder_depth,
                    decoder_num_heads=m.decoder_num_heads)


def mask_keys(keys: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """One int64 key per sample and step for its mask: a function of the sample (its pass and index), the seed and
    the step, never of its rank or batch position (a replayed sample gets a new mask)."""
    return keys.to(torch.int64) * 1_000_003 + step * 7_919 + seed * 104_729


class MAETask(Task):
    def __init__(self, cfg: PretrainConfig, info: DistInfo, final_size: int):
        self.cfg, self.final_size = cfg, final_size
        self.model = MaskedAutoencoderViT(arch_of(cfg), cfg.model.mask_ratio, cfg.model.norm_pix_loss,
                                          img_size=final_size).to(info.device)
        groups = param_groups_weight_decay(self.model, cfg.optim.weight_decay, self.model.no_weight_decay())
        self.optimizer = torch.optim.AdamW(groups, lr=0.0, betas=tuple(cfg.optim.betas),
                                           fused=fused_optimizer(info.device))
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None
        report = print if info.is_main else None
        if cfg.eval.path is None:
            refuse_unused(cfg, [f"eval.{f.name}" for f in fields(cfg.eval) if f.name != "path"],
                          "pre-training without eval.path (no kNN curve)")
        self.knn = KNNMonitor(cfg.eval, info, final_size, report) if cfg.eval.path else None
        self.amp = resolve_amp(cfg.run.amp, info.device, None)
        self.is_main = info.is_main
        self.eval_time = self.knn.setup_time if self.knn else 0.0  # seconds spent on the curve, set-up included
        self.evaluations, self.train_time = 0, 0.0

    def transform(self, values: StageValues):
        return train_transform(self.final_size, self.cfg.data.min_scale, values.size, self.cfg.schedule.low_frequency,
                               self.cfg.data.decode)

    def on_device(self, images: torch.Tensor, keys: torch.Tensor, values: StageValues) -> torch.Tensor:
        return normalize_on_device(images)

    def cost(self, size: int) -> float:
        return self.model.cost_model()(size)

    def loss(self, model, images, targets, keys, step):
        noise = masking_noise(mask_keys(keys, self.cfg.run.seed, step), self.model.grid(images.shape[-1]) ** 2)
        self._last = images, noise
        return model(images, noise)[0]

    def end_of_record(self, record: dict, logger: RunLogger, log_images: bool) -> dict:
        if log_images and self._last is not None:
            _log_reconstructions(logger, self.model, *self._last, record["epoch"])
        self.train_time = record["train_time_s"]
        if self.knn is None or not self.knn.due(record):
            return {}
        started = time.perf_counter()
        metrics = self.knn(self.model, normalize_on_device, self.amp)
        spent = time.perf_counter() - started
        self.eval_time += spent
        self.evaluations += 1
        logger.scalars(metrics, record["step"])
        if self.is_main:
            print(f"kNN at epoch {record['epoch']} (stage {record['stage']}, B={record['size']}): " +
                  ", ".join(f"{k[4:]} {v:.2f} %" for k, v in metrics.items()) +
                  f"; {spent:.2f} s, the curve so far {self._share()}")
        return {**metrics, "eval_time_s": round(spent, 3), "eval_time_total_s": round(self.eval_time, 3)}

    def _share(self) -> str:
        return (f"{self.eval_time:.1f} s over {self.evaluations} evaluations and the set-up = "
                f"{100 * self.eval_time / max(self.train_time, 1e-9):.1f} % of the training wall time")

    def state_dict(self) -> dict:
        return {"eval_time_s": self.eval_time, "evaluations": self.evaluations} if self.knn else {}

    def load_state_dict(self, state: dict) -> None:
        if self.knn and "eval_time_s" in state:
            self.eval_time = state["eval_time_s"] + self.knn.setup_time  # this process decoded the sets again
            self.evaluations = state["evaluations"]

    def finish(self, logger: RunLogger) -> None:
        if self.knn is not None:
            print(f"kNN curve: {self._share()} ({self.train_time:.1f} s)")
        save_atomic({"model": encoder_state_dict(self.model, self.final_size), "arch": asdict(self.model.arch),
                     "img_size": self.final_size}, logger.dir / "encoder.pth")


def _log_reconstructions(logger: RunLogger, model, images: torch.Tensor, noise: torch.Tensor, epoch: int) -> None:
    """Low-frequency inputs, the masked inputs and the reconstructions (4 samples)."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=images.device).view(1, 3, 1, 1)
    p = model.arch.patch_size
    with torch.no_grad():
        images = images[:4].float()
        _, pred, mask = model(images, noise[:4])
        target = patchify(images, p)
        if model.norm_pix_loss:  # undo the per-patch normalisation with the target's statistics
            pred = pred * (target.var(-1, keepdim=True) + 1e-6) ** 0.5 + target.mean(-1, keepdim=True)
        visible = unpatchify(target * (1 - mask[..., None]), p)
        recon = unpatchify(pred.float() * mask[..., None] + target * (1 - mask[..., None]), p)
    for tag, x in (("input", images), ("masked", visible), ("reconstruction", recon)):
        logger.images(f"images/{tag}", x * std + mean, epoch)


def pretrain(cfg: PretrainConfig) -> dict:
    """Run (or resume) pre-training; returns the last record."""
    return run_distributed(_pretrain, cfg)


def _pretrain(cfg: PretrainConfig, info: DistInfo) -> dict:
    seed_everything(cfg.run.seed)
    report = print if info.is_main else None
    accum = resolve_accumulation(cfg.optim, info.world_size, report)
    schedule = build_schedule(cfg.schedule, arch_of(cfg).patch_size, report, default_family="mae_vit", accum_iter=accum)
    task = MAETask(cfg, info, schedule.final_size)
    for stage in schedule.stages:
        task.model.grid(stage.size)  # every size must fit the patch grid before anything runs
    dataset = build_dataset(cfg.data, cfg.run.seed)
    logger = RunLogger(cfg.run.output_dir, info.is_main, cfg.run.progress)
    cost = cost_report(schedule, task.model.cost_model())
    try:
        return train(task, cfg, info, schedule, dataset, logger,
                     report=f"cost model ({cfg.model.name}): {cost.summary()} versus {cost.baseline_epochs:g} "
                            f"epochs at B={schedule.final_size}")
    finally:
        logger.close()
