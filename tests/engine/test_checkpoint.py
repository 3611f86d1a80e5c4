"""Atomic checkpoints, weights-only loading with the MAE allow-list, RNG state round trip, the resume layout check."""
import argparse
import random

import numpy as np
import pytest
import torch

from engine.checkpoint import CheckpointError, check_same_layout, load_checkpoint, rng_state, save_atomic, \
    set_rng_state


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


LAYOUT = {"dataset_size": 1000, "batch_size": 64, "world_size": 8, "accum_iter": 4}


@pytest.mark.parametrize("change, message", [
    ({"batch_size": 32}, r"32 x 8 devices = 256 samples, the run took 64 x 8 = 512; on 8 devices set "
                         r"optim.batch_size=64"),
    ({"world_size": 16}, r"64 x 16 devices = 1024 samples, the run took 64 x 8 = 512; on 16 devices set "
                         r"optim.batch_size=32"),
    ({"world_size": 3}, r"64 x 3 devices = 192 samples, the run took 64 x 8 = 512\. Its step count"),
    ({"accum_iter": 8}, r"optim.accum_iter is 8, the run used 4"),
    ({"dataset_size": 999}, r"the dataset has 999 samples, the run was started on 1000"),
])
def test_resume_layout_that_moves_the_steps_is_refused(change, message):
    with pytest.raises(CheckpointError, match=message):
        check_same_layout({"layout": LAYOUT}, {**LAYOUT, **change}, "ckpt.pth")


def test_resume_layout_with_the_same_samples_per_step_is_accepted():
    """Accepted (no error) where a step still takes the same samples; the same calls with them changed refuse."""
    check_same_layout({"layout": LAYOUT}, {**LAYOUT, "batch_size": 32, "world_size": 16}, "ckpt.pth")
    with pytest.raises(CheckpointError, match="a step takes 32 x 8 devices = 256 samples"):
        check_same_layout({"layout": LAYOUT}, {**LAYOUT, "batch_size": 32, "world_size": 8}, "ckpt.pth")
    check_same_layout({}, {**LAYOUT, "batch_size": 1}, "ckpt.pth")  # written before layouts were saved
    with pytest.raises(CheckpointError, match="a step takes 1 x 8 devices"):
        check_same_layout({"layout": LAYOUT}, {**LAYOUT, "batch_size": 1}, "ckpt.pth")
