"""Per-run plumbing shared by the trainers: seeding, CPU threads, mixed precision, the resume file."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "cpu_threads", "resolve_amp", "resume_path"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def cpu_threads(device: torch.device, num_workers: int, report=print) -> int:
    """torch's intra-op threads for a training process on ``device``: on the CPU, the cores the loader workers leave
    (at least one), so the step and the workers do not contend for the same cores; elsewhere, and whenever
    ``OMP_NUM_THREADS`` is set (torchrun sets it), the current count. Measured on 2 cores with one worker (the
    time-to-accuracy recipe, EfficientTrain++, same top-1): one thread instead of two made the whole run 1.29x
    faster, its 24 px epochs 1.6x (``benchmarks/cpu_threads.py``, ``benchmarks/results/tta_cpu/threads.json``)."""
    current = torch.get_num_threads()
    if device.type != "cpu" or num_workers == 0 or "OMP_NUM_THREADS" in os.environ:
        return current
    threads = max(1, (os.cpu_count() or 1) - num_workers)
    if threads < current and report is not None:
        report(f"CPU: {threads} torch thread(s) beside {num_workers} loader worker(s) on {os.cpu_count()} cores "
               f"(OMP_NUM_THREADS chooses otherwise)")
    return min(threads, current)


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
