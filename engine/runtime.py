"""Per-run plumbing shared by the trainers: seeding, the loader workers' priority, mixed precision, compilation, the
resume file."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "WORKER_NICE", "worker_nice", "fused_optimizer", "resolve_amp", "compile_model",
           "repeated_blocks", "resume_path"]

WORKER_NICE = 19  # the lowest priority: a CPU run's loader workers use the cycles its step leaves


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def worker_nice(device: torch.device) -> int:
    """How far below the training process the loader workers' priority is set (``os.nice``): on a CPU device,
    ``WORKER_NICE``. There torch keeps every core and the workers share them: at the lowest priority they take the
    cycles the step leaves (its serial parts, the optimizer, waiting) instead of preempting one of its threads, whose
    parallel regions then all wait for it. On 2 cores, ``resnet10t`` at batch 128 on Imagenette, two threads beside
    two niced workers trained faster at every stage size from 27 to 64 px than two threads beside one worker at the
    same priority (``benchmarks/supervised_costs.py``, ``benchmarks/results/cpu_supervised_costs.json``), and MAE's
    micro ViT faster than one thread beside two workers (``benchmarks/results/mae_cpu_before_after``). Elsewhere the
    workers keep their priority: the training process only drives the accelerator."""
    return WORKER_NICE if device.type == "cpu" else 0


def fused_optimizer(device: torch.device) -> bool:
    """Whether the trainers' AdamW takes torch's fused kernel (``fused=True``) on ``device``: on CUDA and on the CPU,
    where torch otherwise loops over the parameters in Python (``foreach`` is the default on CUDA only). The update
    is the same; its cost is per step, not per image, so it weighs most at a curriculum's small stages: for
    ``resnet10t`` at batch 128 on 2 cores, ``step()`` takes 3 ms instead of 12-23 ms and a 27 px step trains 1.24x
    faster (``benchmarks/supervised_costs.py``)."""
    return device.type in ("cuda", "cpu")


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


def compile_model(model: torch.nn.Module, train_model: torch.nn.Module, mode: bool | str) -> torch.nn.Module:
    """``run.compile`` applied: the module the training step calls. ``False``: ``train_model`` as it is. ``True``:
    ``train_model`` (the DDP wrapper, if any) compiled whole, one graph per stage size; its compile time grows with
    depth (more than 2 minutes a stage size for MAE ViT-B on an H200's host). ``"blocks"``: the blocks of
    ``model``'s innermost lists of repeated blocks (``repeated_blocks``) compiled in place: dynamo traces one block
    per stage size and reuses it for the others (PyTorch's regional compilation recipe), so compile time does not
    grow with depth; the rest stays eager."""
    if mode is False:
        return train_model
    if mode is True:
        return torch.compile(train_model, dynamic=False)
    if mode != "blocks":
        raise ValueError(f"run.compile must be false, true or blocks, got {mode!r}")
    lists = repeated_blocks(model)
    if not lists:
        raise ValueError(f"run.compile=blocks: {type(model).__name__} holds no list of repeated blocks to compile")
    for blocks in lists:
        for block in blocks:
            block.compile(dynamic=False)
    return train_model


def repeated_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """``model``'s lists of repeated blocks: every ``nn.ModuleList`` or ``nn.Sequential`` of two or more modules of
    one class that is not one of ``torch.nn``'s own (a ViT's ``blocks`` and MAE's ``decoder_blocks``; a Swin's
    stages hold their blocks), innermost only, so no block is inside another compiled one."""
    found = [m for m in model.modules() if isinstance(m, (torch.nn.ModuleList, torch.nn.Sequential)) and len(m) > 1
             and len({type(block) for block in m}) == 1 and not type(m[0]).__module__.startswith("torch.nn")]
    return [m for m in found if not any(other is not m and any(other is d for d in m.modules()) for other in found)]


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
