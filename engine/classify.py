"""Classification metrics over a loader, summed across processes: the evaluation of fine-tuning and the probe."""
from __future__ import annotations

import torch
from timm.utils import accuracy

from .distributed import DistInfo

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(model, loader, info: DistInfo, amp_dtype: torch.dtype | None = None) -> dict:
    """Loss, top-1 and top-5 over ``loader`` (items ``(images, targets, ...)``), summed across ranks."""
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=info.device)  # loss sum, top1 hits, top5 hits, count
    for batch in loader:
        images, targets = batch[0].to(info.device), batch[1].to(info.device)
        with torch.autocast(info.device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            logits = model(images).float()
        top1, top5 = accuracy(logits, targets, topk=(1, min(5, logits.shape[1])))
        n = images.shape[0]
        loss = torch.nn.functional.cross_entropy(logits, targets)
        totals += torch.stack([loss * n, top1 * n / 100, top5 * n / 100, torch.tensor(n, device=info.device)]).double()
    if info.distributed:
        torch.distributed.all_reduce(totals)
    totals = totals.cpu()
    return {"loss": float(totals[0] / totals[3]), "top1": float(100 * totals[1] / totals[3]),
            "top5": float(100 * totals[2] / totals[3])}
