"""Per-run plumbing: the loader workers' priority on a CPU run."""
import os

import torch
from torch.utils.data import Dataset

from engine.data import make_eval_loader
from engine.distributed import DistInfo
from engine.runtime import WORKER_NICE, worker_nice


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
