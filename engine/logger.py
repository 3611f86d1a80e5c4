"""Run logging: TensorBoard scalars/images, a JSON-lines metrics file and a progress bar, on the main rank only."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

__all__ = ["RunLogger"]


class RunLogger:
    def __init__(self, output_dir: str | Path, enabled: bool, progress: bool = True):
        self.enabled, self.progress = enabled, progress and enabled
        self.dir = Path(output_dir)
        self._writer, self._purge_step = None, None
        if enabled:
            self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def writer(self):
        """TensorBoard's writer, opened at the first event (after ``resume_at`` set where it continues)."""
        if self._writer is None and self.enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.dir / "tensorboard"), purge_step=self._purge_step)
        return self._writer

    def resume_at(self, step: int) -> None:
        """Continue a run from ``step`` (0: a start): records written after it leave ``metrics.jsonl`` (those of a
        run killed between a record and its checkpoint), and TensorBoard drops the events from ``step`` on
        (``purge_step``)."""
        if not self.enabled:
            return
        path = self.dir / "metrics.jsonl"
        if path.is_file():
            lines = path.read_text().splitlines()
            kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
            if len(kept) < len(lines):
                partial = path.with_suffix(".jsonl.tmp")
                partial.write_text("".join(line + "\n" for line in kept))
                partial.replace(path)
        if self._writer is not None:  # events were written already: reopen to purge from ``step``
            self._writer.close()
            self._writer = None
        self._purge_step = step

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def images(self, tag: str, images: torch.Tensor, step: int) -> None:
        """``images``: ``[N, 3, H, W]`` in [0, 1]."""
        if self.writer:
            self.writer.add_images(tag, images.clamp(0, 1).float().cpu(), step)

    def epoch(self, record: dict) -> None:
        """Append one epoch's record to ``metrics.jsonl`` and print it."""
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
                       if k != "time"), flush=True)

    def bar(self, total: int, description: str, initial: int = 0):
        return tqdm(total=total, initial=initial, desc=description, disable=not self.progress, dynamic_ncols=True,
                    leave=False)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
