"""Replay buffer: batch counts, freshness of the loaded batch, bounded capacity."""
import pytest
import torch

from curriculum.replay import ReplayBuffer


def loaded(n_batches=5, batch=4):
    return [(torch.arange(i * batch, (i + 1) * batch).float()[:, None], torch.arange(i * batch, (i + 1) * batch))
            for i in range(n_batches)]


def test_pass_through_when_times_is_one():
    out = list(ReplayBuffer(1, 0)(loaded()))
    assert [r for r, _ in out] == [0] * 5
    assert all(torch.equal(a[1], b[1]) for (_, a), b in zip(out, loaded()))


def test_each_loaded_batch_drives_times_steps_from_recent_samples():
    buffer = ReplayBuffer(3, capacity=8, generator=torch.Generator().manual_seed(0))
    out = list(buffer(loaded()))
    assert [r for r, _ in out] == [0, 1, 2] * 5
    for i in range(5):
        fresh = out[3 * i][1][1]
        assert torch.equal(fresh, torch.arange(4 * i, 4 * i + 4))  # the loaded batch comes first, unchanged
        for _, replayed in out[3 * i + 1: 3 * i + 3]:
            keys = replayed[1]
            assert keys.shape == (4,) and len(set(keys.tolist())) == 4  # drawn without replacement
            assert keys.min() >= max(0, 4 * i + 4 - 8)  # only the 8 most recent samples
            assert torch.equal(replayed[0][:, 0].long(), keys)  # fields stay aligned
    assert len(buffer) == 8


def test_capacity_of_one_batch_replays_that_batch():
    out = list(ReplayBuffer(2, capacity=4)(loaded(2)))
    assert set(out[1][1][1].tolist()) == set(out[0][1][1].tolist())


def test_bad_arguments():
    with pytest.raises(ValueError, match=">= 1"):
        ReplayBuffer(0, 4)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(2, 0)
