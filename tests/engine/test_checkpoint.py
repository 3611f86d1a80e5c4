"""Atomic checkpoints, weights-only loading with the MAE allow-list, RNG state round trip."""
import argparse
import random

import numpy as np
import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint, rng_state, save_atomic, set_rng_state


def test_atomic_save_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "ckpt.pth"
    save_atomic({"a": torch.ones(2)}, path)
    save_atomic({"a": torch.zeros(2)}, path)
    assert torch.equal(load_checkpoint(path)["a"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]


def test_failed_save_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pth"
    save_atomic({"a": torch.ones(2)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")
    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_atomic({"a": Unpicklable()}, path)
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]


def test_official_mae_namespace_loads_weights_only(tmp_path):
    path = tmp_path / "mae.pth"
    torch.save({"model": {"w": torch.ones(1)}, "args": argparse.Namespace(model="mae_vit_base")}, path)
    assert load_checkpoint(path)["args"].model == "mae_vit_base"


class NotAllowListed:
    pass


def test_disallowed_and_corrupt_files_raise(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"x": NotAllowListed()}, path)
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load checkpoint .*junk.pth"):
        load_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pth")


def test_rng_state_round_trip(tmp_path):
    state = rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    save_atomic({"rng": state}, tmp_path / "r.pth")
    set_rng_state(load_checkpoint(tmp_path / "r.pth")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
