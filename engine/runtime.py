"""Per-run plumbing shared by the trainers: seeding, mixed precision, the resume file."""
from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "resolve_amp", "autocast", "resume_path", "train_step"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """``auto``: bf16 on a CUDA device that supports it, full precision on the CPU."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if amp == "none":
        return None
    if amp in ("bf16", "fp16"):
        return torch.bfloat16 if amp == "bf16" else torch.float16
    raise ValueError(f"run.amp must be auto, bf16, fp16 or none, got {amp!r}")


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def resume_path(resume: str | None, output_dir: str | Path) -> Path | None:
    """``auto`` resumes from ``output_dir/checkpoint-last.pth`` if it exists; a path must exist."""
    if resume in (None, "", "none"):
        return None
    if resume == "auto":
        last = Path(output_dir) / "checkpoint-last.pth"
        return last if last.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"run.resume points to a missing checkpoint: {path}")
    return path


def train_step(compute_loss, train_model, optimizer, scaler, *, accum: int, update: bool, distributed: bool,
               clip_grad: float | None, where: str) -> torch.Tensor:
    """One micro-step with gradient accumulation: DDP gradient sync only on the micro-step that ``update``s,
    a stop on a non-finite loss, loss scaling for fp16, optional clipping, then the optimizer step."""
    with train_model.no_sync() if distributed and not update else contextlib.nullcontext():
        loss = compute_loss()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss is {loss.item()} at {where}; stopping")
        scaler.scale(loss / accum).backward()
    if update:
        if clip_grad:
            scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, clip_grad)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
    return loss
