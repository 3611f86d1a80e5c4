"""mmengine checkpoints under ``torch.load(weights_only=True)``, the torch default since 2.6, with an allow-list.

mmengine 0.10 loads checkpoints with a bare ``torch.load``, so resuming (``--resume``) and ``load_from`` go through
the weights-only unpickler. Its checkpoints hold the message hub: ``HistoryBuffer`` objects of NumPy arrays and NumPy
scalars, which are allow-listed here. ``HistoryBuffer.__getstate__`` additionally pickles its class-level table of
statistics functions as ``getattr(HistoryBuffer, 'min')`` calls; allow-listing ``getattr`` would let a checkpoint
call anything, so instead the state is written without that table (it is class data, rebuilt on import).
Checkpoints written without it still carry the calls and are refused by torch, not run. Nothing changes on
``import mmvit``: ``weights_only_checkpoints()`` applies both for the duration of a run (``mmvit.launch``).
"""
from __future__ import annotations

import contextlib
import inspect

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ["SAFE_GLOBALS", "weights_only_checkpoints"]

SAFE_GLOBALS = [HistoryBuffer, np.ndarray, np.dtype, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
                *(cls for _, cls in inspect.getmembers(np.dtypes, inspect.isclass))]


def _history_buffer_state(self: HistoryBuffer) -> dict:
    return {k: v for k, v in self.__dict__.items() if k != "statistics_methods"}


@contextlib.contextmanager
def weights_only_checkpoints():
    """mmengine checkpoints saved without ``getattr`` calls and loaded with the allow-list, inside the block."""
    saved = HistoryBuffer.__dict__.get("__getstate__")
    HistoryBuffer.__getstate__ = _history_buffer_state
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            yield
    finally:
        if saved is None:
            del HistoryBuffer.__getstate__
        else:
            HistoryBuffer.__getstate__ = saved
