"""LARS as MAE's linear probe uses it (facebookresearch/mae ``util/lars.py``, from MoCo v3; You et al. 2017).

For a parameter ``w`` with more than one dimension and its gradient ``g``:
``d = g + wd * w``, scaled by the trust ratio ``eta * ||w|| / ||d||`` (1 where either norm is 0); for biases and
other parameters of one dimension ``d = g`` (no weight decay, no trust ratio). Then ``mu = momentum * mu + d`` and
``w -= lr * mu``. The trust ratio applies even at weight decay 0, MAE's probe setting; ``timm.optim.Lars`` skips it
there unless ``always_adapt=True``, and adapts biases too, so it is not this optimiser.
"""
from __future__ import annotations

import torch

__all__ = ["LARS"]


class LARS(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 0.0, weight_decay: float = 0.0, momentum: float = 0.9,
                 trust_coefficient: float = 0.001):
        if lr < 0 or weight_decay < 0 or not 0 <= momentum < 1 or trust_coefficient <= 0:
            raise ValueError(f"LARS needs lr >= 0, weight_decay >= 0, 0 <= momentum < 1, trust_coefficient > 0; got "
                             f"{lr}, {weight_decay}, {momentum}, {trust_coefficient}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      trust_coefficient=trust_coefficient))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                update = w.grad
                if w.ndim > 1:
                    update = update.add(w, alpha=group["weight_decay"])
                    w_norm, u_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(update)
                    ratio = torch.where((w_norm > 0) & (u_norm > 0),
                                        group["trust_coefficient"] * w_norm / u_norm, torch.ones_like(w_norm))
                    update = update * ratio
                state = self.state[w]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(w)
                state["mu"].mul_(group["momentum"]).add_(update)
                w.add_(state["mu"], alpha=-group["lr"])
        return loss
