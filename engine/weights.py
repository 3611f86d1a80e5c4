"""Loading pre-trained ViT weights without ever falling back to a silent random init.

``load_pretrained`` accepts our ``encoder.pth`` / ``checkpoint-*.pth``, fine-tune checkpoints, official
facebookresearch/mae files, ``.safetensors`` files and weights by name (``hf-hub:timm/vit_base_patch16_224.mae``,
``engine.hub``): it unwraps ``model`` / ``state_dict`` / ``module.`` prefixes, drops the MAE decoder,
resamples ``pos_embed`` to the model's grid (float32, timm's ``resample_abs_pos_embed``), checks every shape, loads
non-strictly and raises ``WeightsError`` listing the keys if anything is missing or unexpected beyond what the
caller declares expected (typically the new head and ``fc_norm``). ``describe_load`` is the one line every trainer
prints per load: source, tensors loaded, the resampled position grid, what was initialised and what went unused.
"""
from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Iterable

import torch
import torch.nn as nn
from timm.layers import resample_abs_pos_embed

from .checkpoint import CheckpointError, load_checkpoint
from .hub import resolve_weights

__all__ = ["WeightsError", "read_weights", "unwrap_state_dict", "load_pretrained", "describe_load",
           "resample_pos_embed", "fixed_sincos_pos_embed"]

PRETRAINING_ONLY = ("decoder*", "mask_token")


class WeightsError(RuntimeError):
    """Pre-trained weights that do not fit the model, with the offending keys."""


def read_weights(source: str | Path) -> dict:
    """The dict stored at ``source``: a path (``.safetensors``, or a torch file read weights-only) or an
    ``hf-hub:`` tag resolved to one."""
    path = resolve_weights(str(source))
    if path.suffix != ".safetensors":
        return load_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except SafetensorError as err:
        raise CheckpointError(f"cannot load weights {path}: {err}") from err


def unwrap_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    state = checkpoint
    for key in ("model", "state_dict", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"no tensor state dict found; top-level keys: {sorted(checkpoint)[:10]}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def resample_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int) -> torch.Tensor:
    """``[1, prefix + h*w, D]`` to the target grid, computed in float32 and returned in the input dtype."""
    old = pos_embed.shape[1] - num_prefix_tokens
    side = int(math.isqrt(old))
    if side * side != old:
        raise WeightsError(f"pos_embed with {old} patch positions is not a square grid")
    if (side, side) == tuple(grid):
        return pos_embed
    out = resample_abs_pos_embed(pos_embed.float(), list(grid), [side, side], num_prefix_tokens=num_prefix_tokens)
    return out.to(pos_embed.dtype)


def fixed_sincos_pos_embed(grid: tuple[int, int], dim: int, device=None) -> torch.Tensor:
    """``[1, 1 + h*w, dim]``: MAE's fixed 2-D sin-cos table (He et al. 2022, Sec. 3; facebookresearch/mae
    ``util/pos_embed.py``, ``get_2d_sincos_pos_embed``) behind a zero class slot, for any grid. Patches in row-major
    order; the first half of the channels encodes the column, the second half the row, each as
    ``[sin(pos w_k), cos(pos w_k)]`` with ``w_k = 10000^(-k / (dim / 4))``, ``k < dim / 4``; computed in float64 and
    returned in float32, as MAE does. The one sin-cos helper of the suite."""
    if dim % 4:
        raise ValueError(f"a 2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64, device=device) / (dim / 4))
    rows, cols = torch.meshgrid(torch.arange(grid[0], dtype=torch.float64, device=device),
                                torch.arange(grid[1], dtype=torch.float64, device=device), indexing="ij")

    def encode(position: torch.Tensor) -> torch.Tensor:
        angles = position.reshape(-1, 1) * omega
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    table = torch.cat([encode(cols), encode(rows)], dim=1).float()
    return torch.cat([torch.zeros(1, dim, device=table.device), table])[None]


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def load_pretrained(model: nn.Module, source: str | Path | dict, expected_missing: Iterable[str] = (),
                    expected_unexpected: Iterable[str] = (), grid: tuple[int, int] | None = None,
                    num_prefix_tokens: int = 1) -> dict:
    """Load ``source`` into ``model``; patterns are fnmatch globs (``head.*``). Returns ``missing`` / ``unexpected``
    keys, ``loaded`` (tensors taken from the source) and ``pos_grid`` (``(from, to)`` grids if ``pos_embed`` was
    resampled, else None).

    ``grid`` is the model's patch grid for ``pos_embed`` (default: ``model.patch_embed.grid_size``).
    """
    checkpoint = read_weights(source) if isinstance(source, (str, Path)) else source
    state = {k: v for k, v in unwrap_state_dict(checkpoint).items() if not _matches(k, PRETRAINING_ONLY)}
    own = model.state_dict()
    pos_grid = None
    if "pos_embed" in own:
        grid = grid or tuple(model.patch_embed.grid_size)
        if "pos_embed" in state:
            side = math.isqrt(state["pos_embed"].shape[1] - num_prefix_tokens)
            state["pos_embed"] = resample_pos_embed(state["pos_embed"], grid, num_prefix_tokens)
            pos_grid = ((side, side), tuple(grid)) if (side, side) != tuple(grid) else None
    # a tensor the caller expects to replace (a new head) is dropped when its shape differs, never shape-checked
    state = {k: v for k, v in state.items()
             if not (k in own and own[k].shape != v.shape and _matches(k, expected_missing))}
    wrong_shape = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                   for k, v in state.items() if k in own and own[k].shape != v.shape]
    if wrong_shape:
        raise WeightsError("pre-trained tensors with the wrong shape:\n  " + "\n  ".join(wrong_shape))
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not _matches(k, expected_missing)]
    unexpected = [k for k in result.unexpected_keys if not _matches(k, expected_unexpected)]
    if missing or unexpected:
        raise WeightsError(f"pre-trained weights do not fit the model.\n  missing: {missing}\n  unexpected: "
                           f"{unexpected}\n(allowed missing: {list(expected_missing)}, allowed unexpected: "
                           f"{list(expected_unexpected)})")
    return {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys),
            "loaded": len(state) - len(result.unexpected_keys), "pos_grid": pos_grid}


def describe_load(what: str, source, result: dict) -> str:
    """One line for a ``load_pretrained`` result, e.g. ``model weights from encoder.pth: 52 tensors loaded, ...``."""
    grid = (f"pos_embed resampled {result['pos_grid'][0]} -> {result['pos_grid'][1]}" if result["pos_grid"]
            else "pos_embed kept at its grid")
    return (f"{what} weights from {source}: {result['loaded']} tensors loaded, {grid}, initialised (not in the "
            f"source): {result['missing'] or 'none'}, unused: {result['unexpected'] or 'none'}")
