"""Per-run plumbing: the loader workers' priority on a CPU run, the fused optimizer."""
import os

import numpy as np

import torch
from torch.utils.data import Dataset

from engine.data import make_eval_loader
from engine.distributed import DistInfo
from engine.runtime import WORKER_NICE, fused_optimizer, worker_nice


class Niceness(Dataset):
    """Each item is the niceness of the process that reads it."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> int:
        return os.nice(0)


def test_cpu_loader_workers_run_at_the_lowest_priority():
    """On the CPU the workers take the cycles the step leaves; beside an accelerator they keep their priority."""
    assert worker_nice(torch.device("cpu")) == WORKER_NICE == 19 and worker_nice(torch.device("cuda")) == 0
    loader = make_eval_loader(Niceness(), 2, DistInfo(0, 0, 1, torch.device("cpu")), num_workers=1)
    assert torch.cat(list(loader)).tolist() == [min(19, os.nice(0) + WORKER_NICE)] * 4
    assert os.nice(0) < 19  # the training process itself is left as it was
    inline = make_eval_loader(Niceness(), 2, DistInfo(0, 0, 1, torch.device("cpu")), num_workers=0)
    assert torch.cat(list(inline)).tolist() == [os.nice(0)] * 4


def _adamw_reference(params, grads, groups, lr, betas, eps, steps):
    """AdamW (Loshchilov & Hutter, Algorithm 2, torch's form) in NumPy: decay p -= lr wd p, then the Adam step with
    bias-corrected moments."""
    out = []
    for p, g, wd in zip(params, grads, groups):
        p, m, v = p.astype(np.float64), np.zeros_like(p, np.float64), np.zeros_like(p, np.float64)
        for t in range(1, steps + 1):
            p = p - lr * wd * p
            m = betas[0] * m + (1 - betas[0]) * g
            v = betas[1] * v + (1 - betas[1]) * g * g
            p = p - lr * (m / (1 - betas[0] ** t)) / (np.sqrt(v / (1 - betas[1] ** t)) + eps)
        out.append(p)
    return out


def test_fused_adamw_on_the_cpu_is_adamw():
    """The trainers' fused AdamW on the CPU gives AdamW's update (NumPy reference), with and without weight decay."""
    assert fused_optimizer(torch.device("cpu")) and fused_optimizer(torch.device("cuda"))
    assert not fused_optimizer(torch.device("meta"))
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=7).astype(np.float32)]
    grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
    tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    optimizer = torch.optim.AdamW([{"params": [tensors[0]], "weight_decay": 0.05},
                                   {"params": [tensors[1]], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.95),
                                  eps=1e-8, fused=fused_optimizer(torch.device("cpu")))
    for _ in range(3):
        for t, g in zip(tensors, grads):
            t.grad = torch.from_numpy(g.copy())
        optimizer.step()
    expected = _adamw_reference(params, grads, [0.05, 0.0], 0.01, (0.9, 0.95), 1e-8, 3)
    for t, e in zip(tensors, expected):
        np.testing.assert_allclose(t.detach().numpy(), e, rtol=0, atol=1e-6)
    assert optimizer.defaults["fused"]
