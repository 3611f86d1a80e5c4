"""torch.distributed set-up from torchrun's environment (single process when absent).

``torchrun --nproc_per_node N [--nnodes M --rdzv-endpoint HOST:PORT] -m pretrain_mae ...`` sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; NCCL is used on CUDA, gloo on CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "all_reduce_mean", "all_gather_rows", "cleanup", "resolve_device",
           "run_distributed"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("run.device=cuda was asked for but no CUDA device is available")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise ValueError(f"run.device must be auto, cpu or cuda, got {name!r}")
    return torch.device("cpu")


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun; otherwise a world of one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world_size,
                                store=_restart_store(rank, world_size))
    return DistInfo(rank, local_rank, world_size, dev)


def _restart_store(rank: int, world_size: int) -> dist.Store | None:
    """After a torchrun restart, the store under a prefix of that restart; None (the env:// default) otherwise.

    Under the c10d rendezvous torchrun's workers share the agent's store across restarts, so the keys the dead
    round's process group wrote are still there; a restarted rank could read its peer's old gloo address before the
    peer wrote its new one, and fail in ``connectFullMesh`` (connection refused). Prefixing by
    ``TORCHELASTIC_RESTART_COUNT`` keeps each round's keys apart."""
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    if restart == "0":
        return None
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # the agent hosts it: all are clients
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size,
                          is_master=rank == 0 and not agent_store)
    return dist.PrefixStore(f"restart{restart}", store)


def all_reduce_mean(value: float | torch.Tensor, info: DistInfo) -> float:
    tensor = torch.as_tensor(value, dtype=torch.float64, device=info.device if info.device.type == "cuda" else "cpu")
    if info.distributed:
        dist.all_reduce(tensor)
        tensor /= info.world_size
    return float(tensor)


def all_gather_rows(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Every process's rows of ``tensor`` (any count per process), concatenated in rank order, on every process."""
    if not info.distributed:
        return tensor
    count = torch.tensor([tensor.shape[0]], device=tensor.device)
    counts = [torch.zeros_like(count) for _ in range(info.world_size)]
    dist.all_gather(counts, count)
    longest = int(max(c.item() for c in counts))
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([part[:int(c.item())] for part, c in zip(parts, counts)])


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def run_distributed(train, cfg):
    """Call ``train(cfg, info)`` inside the process group of ``cfg.run.device``, leaving the group afterwards."""
    info = init_distributed(cfg.run.device)
    try:
        return train(cfg, info)
    finally:
        cleanup()
