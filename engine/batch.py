"""The recipe's global batch on any number of devices: gradient accumulation derived from the world size.

A recipe fixes the global batch (MAE: 4096, He et al. 2022 App. A.1; facebookresearch/mae ``PRETRAIN.md``: 64 per
GPU x 8 GPUs x 8 nodes, or ``--accum_iter`` on fewer) and the learning rate follows it (``lr = blr x global / 256``).
With ``optim.global_batch`` set, ``accum_iter = global_batch / (batch_size x world_size)``, so one config runs
unchanged on 1, 8 or 64 devices with the same samples and the same lr per update.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["resolve_accumulation"]


def resolve_accumulation(optim, world_size: int, report: Callable[[str], None] | None = print) -> int:
    """Set and return ``optim.accum_iter`` for ``world_size`` devices.

    ``optim.global_batch`` unset: ``accum_iter`` as given (default 1). Set: the accumulation that makes it, refusing
    a global batch that ``batch_size x world_size`` does not divide, or an explicit ``accum_iter`` that disagrees,
    with a message naming the numbers.
    """
    per_step = optim.batch_size * world_size
    if optim.accum_iter is not None and optim.accum_iter < 1:
        raise ValueError(f"optim.accum_iter must be >= 1, got {optim.accum_iter}")
    if optim.global_batch is None:
        optim.accum_iter = optim.accum_iter or 1
        return optim.accum_iter
    if optim.global_batch < 1:
        raise ValueError(f"optim.global_batch must be >= 1 (or null), got {optim.global_batch}")
    devices = f"{world_size} device{'s' if world_size > 1 else ''}"
    if optim.global_batch % per_step:
        fits = [b for b in range(optim.batch_size, 0, -1) if optim.global_batch % (b * world_size) == 0][:3]
        hint = f"; batch sizes per device that fit: {', '.join(map(str, fits))}" if fits else ""
        raise ValueError(f"optim.global_batch={optim.global_batch} is not a multiple of optim.batch_size "
                         f"({optim.batch_size}) x {devices} = {per_step}{hint}")
    accum = optim.global_batch // per_step
    if optim.accum_iter is not None and optim.accum_iter != accum:
        raise ValueError(f"optim.accum_iter={optim.accum_iter} contradicts optim.global_batch={optim.global_batch} on "
                         f"{devices} with optim.batch_size={optim.batch_size} (that needs {accum}); set one of them")
    optim.accum_iter = accum
    if report is not None:
        report(f"global batch {optim.global_batch} = {optim.batch_size} per device x {devices} x {accum} "
               f"accumulation step{'s' if accum > 1 else ''}")
    return accum
