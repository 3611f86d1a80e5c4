"""Per-run plumbing shared by the trainers: seeding, mixed precision, the resume file."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "resolve_amp", "resume_path"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def resolve_amp(amp: str, device: torch.device, report=print) -> torch.dtype | None:
    """``auto``: bf16 on a CUDA device that supports it, full precision on the CPU (where bf16 autocast is usually
    many times slower than float32); an explicit ``bf16`` / ``fp16`` on the CPU is honoured with a notice."""
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    if amp == "none":
        return None
    if amp in ("bf16", "fp16"):
        if device.type == "cpu" and report is not None:
            report(f"note: run.amp={amp} on the CPU is usually much slower than float32; run.amp=auto picks float32 "
                   f"there")
        return torch.bfloat16 if amp == "bf16" else torch.float16
    raise ValueError(f"run.amp must be auto, bf16, fp16 or none, got {amp!r}")


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
