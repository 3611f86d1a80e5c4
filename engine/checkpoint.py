"""Checkpoints that are never half-written and load with ``weights_only=True``.

``save_atomic`` writes to a temporary file in the target directory, fsyncs it, renames it over the target and
fsyncs the directory, so a crash leaves either the old or the new checkpoint. ``load_checkpoint`` always uses
``torch.load(weights_only=True)``; official MAE checkpoints pickle an ``argparse.Namespace`` under ``args``, which
is allow-listed explicitly rather than falling back to ``weights_only=False``.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curriculum import Schedule

__all__ = ["save_atomic", "load_checkpoint", "rng_state", "set_rng_state", "CheckpointError", "check_same_schedule",
           "check_same_layout", "restore_training_state"]

SAFE_GLOBALS = [argparse.Namespace]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, with the reason."""


def save_atomic(obj: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # corrupt file, or a pickle with globals we do not allow
        raise CheckpointError(f"cannot load checkpoint {path}: {err}") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(data).__name__}, expected a dict")
    return data


def rng_state() -> dict:
    """Python, NumPy and torch RNG states as weights-only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": list(random.getstate()[1]), "python_version": random.getstate()[0],
             "python_gauss": random.getstate()[2], "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos,
                                                              has_gauss, gauss],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_same_schedule(state: dict, schedule: Schedule, path: str | Path) -> None:
    """Refuse to resume a checkpoint that was written for another schedule (it would not continue the run)."""
    saved = state.get("schedule")
    if saved is not None and Schedule.from_dict(saved) != schedule:
        raise CheckpointError(f"checkpoint {path} was written for a different schedule; resuming would not "
                              f"continue the same run.\nsaved:   {saved}\ncurrent: {schedule.to_dict()}")


def check_same_layout(state: dict, layout: dict, path: str | Path) -> None:
    """Refuse to resume a checkpoint whose steps mean other samples here.

    ``layout`` holds ``dataset_size``, ``batch_size`` (per device), ``world_size`` and ``accum_iter``. A step's place
    in the sample stream and the schedule depends on the dataset size and on the samples a step takes on all devices
    (batch size x world size; ``curriculum.StepPlan``), and an update's global batch, hence its lr, on the
    accumulation too. The devices may change if the samples per step do not (e.g. 8 x 64 -> 16 x 32). A checkpoint
    written before the layout was saved is not checked.
    """
    saved = state.get("layout")
    if saved is None:
        return
    problems = []
    if saved["dataset_size"] != layout["dataset_size"]:
        problems.append(f"the dataset has {layout['dataset_size']} samples, the run was started on "
                        f"{saved['dataset_size']}")
    per_step = saved["batch_size"] * saved["world_size"]
    if per_step != layout["batch_size"] * layout["world_size"]:
        devices = f"{layout['world_size']} device{'s' if layout['world_size'] > 1 else ''}"
        fit = (f"; on {devices} set optim.batch_size={per_step // layout['world_size']}"
               if per_step % layout["world_size"] == 0 else "")
        problems.append(f"a step takes {layout['batch_size']} x {devices} = "
                        f"{layout['batch_size'] * layout['world_size']} samples, the run took {saved['batch_size']} x "
                        f"{saved['world_size']} = {per_step}{fit}")
    if saved["accum_iter"] != layout["accum_iter"]:
        problems.append(f"optim.accum_iter is {layout['accum_iter']}, the run used {saved['accum_iter']}")
    if problems:
        raise CheckpointError(f"checkpoint {path} cannot continue this run: " + "; ".join(problems) +
                              ". Its step count would point at other samples and stages, or another global batch")


def restore_training_state(state: dict, model, optimizer, scaler) -> int:
    """Load model, optimizer, grad scaler and RNG states from a training checkpoint; return the next epoch."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state["epoch"] + 1
