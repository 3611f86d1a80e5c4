"""A clean stop on SIGTERM, SIGINT and SIGUSR1, and checkpoints by the clock: what a preempted run needs.

A scheduler preempts a job with a signal some seconds before it kills it: SLURM sends SIGTERM (or the
``--signal`` of the job), torchrun forwards SIGTERM to its workers and sends SIGKILL 30 s later
(``torch.distributed.elastic``'s ``_shutdown``). The handler only notes the signal. The training loop asks
``StopSignals.poll`` at update boundaries, only where it already syncs with the host (every ``LOG_EVERY`` steps and
at records); under torch.distributed the answer is all-reduced so every rank stops at the same step. The loop then
writes ``checkpoint-last.pth`` at that step (rank 0), all ranks meet at a barrier, and the process exits with
``128 + signal number`` (143 for SIGTERM, 130 for SIGINT, 138 for SIGUSR1): the shells' "killed by this signal"
status, so neither a scheduler nor a requeue script mistakes the stopped run for a finished one, and torchrun counts
it as a failed worker group (``--max-restarts`` restarts it, to resume).

A second signal while the checkpoint is written is noted and changes nothing: the file is renamed into place only
once complete (``engine.checkpoint.save_atomic``). A signal during an evaluation abandons it in a single process
(``Preempted`` is raised from the handler; the record is evaluated again after the resume); under torch.distributed
the evaluation finishes first, as its collectives must pair up across ranks. Loader workers (forked) outlive a
signal sent to the whole process group while the main process stops (``worker_signals``). ``run.save_minutes`` asks
the same poll for a mid-epoch ``checkpoint-last.pth`` every so many minutes, for epochs longer than a preemption's
notice.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time

import torch
import torch.distributed as dist

from .distributed import DistInfo

__all__ = ["SIGNALS", "Preempted", "StopSignals", "worker_signals"]

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
WORKER_GRACE_S = 0.5  # how long a loader worker waits to learn whether its main process is stopping
# set by the main process while it stops cleanly; loader workers forked from it share the value
_STOPPING = multiprocessing.Value("b", 0, lock=False)


class Preempted(Exception):
    """Raised from the handler when a signal arrives during an evaluation (one process)."""


def worker_signals(_worker_id: int | None = None) -> None:
    """DataLoader ``worker_init_fn``: a stop signal sent to the whole process group must not kill the workers
    before the main process has stopped at its step (it may need a few more batches). SIGINT and SIGUSR1 are
    ignored; SIGTERM waits ``WORKER_GRACE_S`` and is ignored if the main process is stopping, and otherwise does
    what it always does: the DataLoader's own shutdown terminates a stuck worker with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def _worker_sigterm(number: int, _frame) -> None:
    time.sleep(WORKER_GRACE_S)  # a group's signal reaches the main process at the same moment
    if _STOPPING.value:
        return
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)


class StopSignals:
    """Installed for a training run (a context manager; in the main thread only, else inert)."""

    def __init__(self, info: DistInfo, save_minutes: float | None = None):
        self.info, self.save_minutes = info, save_minutes
        self.received: list[int] = []
        self.evaluating = False
        self._previous: dict[int, object] = {}
        self._last_save, self.last_save_s = time.monotonic(), 0.0

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        _STOPPING.value = 0  # from here on a SIGTERM to a worker is the loader's shutdown: it ends the worker
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, _frame) -> None:
        _STOPPING.value = 1
        self.received.append(number)
        if self.evaluating and not self.info.distributed and len(self.received) == 1:
            raise Preempted(signal.Signals(number).name)

    @property
    def number(self) -> int:
        """The first signal received (on any rank, once ``poll`` said stop); SIGTERM's before any."""
        return self.received[0] if self.received else signal.SIGTERM

    @property
    def name(self) -> str:
        return signal.Signals(self.number).name

    @property
    def exit_status(self) -> int:
        return 128 + self.number

    def poll(self) -> tuple[bool, bool]:
        """``(stop, save)``, the same on every rank: a stop signal reached some rank; ``run.save_minutes`` passed
        since the last save (rank 0's clock)."""
        due = (self.save_minutes is not None and self.info.is_main and
               time.monotonic() - self._last_save >= 60 * self.save_minutes)
        flags = torch.tensor([self.received[0] if self.received else 0, int(due)],
                             dtype=torch.int64, device=self.info.device if self.info.device.type == "cuda" else "cpu")
        if self.info.distributed:
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        if flags[0] and not self.received:  # another rank's signal: stop with its status
            self.received.append(int(flags[0]))
        return bool(flags[0]), bool(flags[1])

    def saved(self, seconds: float) -> float:
        """A checkpoint was written in ``seconds``: the clock of ``run.save_minutes`` starts again."""
        self._last_save, self.last_save_s = time.monotonic(), seconds
        return seconds

    @contextlib.contextmanager
    def evaluation(self):
        """Around an evaluation: a signal in a single process abandons it (``Preempted``)."""
        self.evaluating = True
        try:
            if self.received and not self.info.distributed:
                raise Preempted(self.name)
            yield
        finally:
            self.evaluating = False
