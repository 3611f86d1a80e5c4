"""Per-run plumbing: torch's CPU threads beside the loader workers."""
import os

import torch

from engine.runtime import cpu_threads


def test_cpu_threads_leave_the_loader_workers_their_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    notes = []
    assert cpu_threads(torch.device("cpu"), 3, notes.append) == 5 and "5 torch thread(s) beside 3" in notes[0]
    assert cpu_threads(torch.device("cpu"), 8, notes.append) == 1  # at least one
    assert cpu_threads(torch.device("cpu"), 0, notes.append) == 8  # no workers: every core
    assert cpu_threads(torch.device("cuda"), 3, notes.append) == 8  # the GPU computes
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert cpu_threads(torch.device("cpu"), 3, notes.append) == 8  # the user's (or torchrun's) choice stands
    assert len(notes) == 2
