"""mmengine checkpoints under ``torch.load(weights_only=True)``, the torch default since 2.6, with an allow-list.

mmengine 0.10 loads checkpoints with a bare ``torch.load``, so resuming (``--resume``) and ``load_from`` go through
the weights-only unpickler. Its checkpoints hold the message hub: ``HistoryBuffer`` objects of NumPy arrays and NumPy
scalars, which are allow-listed here. ``HistoryBuffer.__getstate__`` additionally pickles its class-level table of
statistics functions as ``getattr(HistoryBuffer, 'min')`` calls; allow-listing ``getattr`` would let a checkpoint
call anything, so instead the state is written without that table (it is class data, rebuilt on import).
Checkpoints written before this module was imported still carry the calls and are refused by torch, not run.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ["SAFE_GLOBALS"]

SAFE_GLOBALS = [HistoryBuffer, np.ndarray, np.dtype, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
                *(cls for _, cls in inspect.getmembers(np.dtypes, inspect.isclass))]


def _history_buffer_state(self: HistoryBuffer) -> dict:
    return {k: v for k, v in self.__dict__.items() if k != "statistics_methods"}


HistoryBuffer.__getstate__ = _history_buffer_state
torch.serialization.add_safe_globals(SAFE_GLOBALS)
