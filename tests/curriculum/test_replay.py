"""Replay buffer as released (engine_buffer.py): chunks of loaded batches, FIFO of N batches, draws with
replacement, the fresh batch first and unchanged."""
import pytest
import torch

from curriculum.replay import ReplayBuffer


def loaded(i, batch=8):
    """Loaded batch ``i``: images whose value is the sample id, and the ids as targets."""
    ids = torch.arange(i * batch, (i + 1) * batch)
    return ids.float()[:, None], ids


def test_pass_through_when_times_is_one():
    buffer = ReplayBuffer(1, 0)
    batch = loaded(0)
    assert buffer.mix(batch) is batch and len(buffer) == 0


def test_mixed_batch_is_fresh_plus_chunks_of_recent_batches():
    buffer = ReplayBuffer(4, capacity_batches=2, split=4, generator=torch.Generator().manual_seed(0))
    for i in range(6):
        images, ids = buffer.mix(loaded(i))
        assert ids.shape == (32,)  # bs / r fresh + (r - 1) batches' worth of chunks: the step's batch is bs
        assert torch.equal(ids[:8], torch.arange(8 * i, 8 * i + 8))  # fresh first, unchanged
        assert torch.equal(images[:, 0].long(), ids)  # fields stay aligned
        replayed = ids[8:]
        assert replayed.min() >= 8 * max(0, i - 1)  # only the 2 most recent loaded batches (this one included)
        assert len(buffer) <= 2 * 8  # memory bounded by capacity_batches loaded batches
        # chunks of 2 consecutive ids (a batch of 8 split 4 ways) are drawn whole
        pairs = replayed.view(-1, 2)
        assert torch.all(pairs[:, 1] == pairs[:, 0] + 1) and torch.all(pairs[:, 0] % 2 == 0)


def test_draws_are_with_replacement_and_reproducible():
    def run(seed):
        buffer = ReplayBuffer(4, capacity_batches=1, split=8, generator=torch.Generator().manual_seed(seed))
        return buffer.mix(loaded(0))[1]
    ids = run(1)
    assert len(set(ids[8:].tolist())) < 24  # 24 draws from 8 chunks must repeat
    assert torch.equal(ids, run(1)) and not torch.equal(ids, run(2))


def test_small_batches_never_make_empty_chunks():
    buffer = ReplayBuffer(2, capacity_batches=3, split=32)
    images, ids = buffer.mix(loaded(0, batch=4))
    assert ids.shape == (8,)


def test_bad_arguments():
    with pytest.raises(ValueError, match=">= 1"):
        ReplayBuffer(0, 4)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(2, 0)
    with pytest.raises(ValueError, match="split"):
        ReplayBuffer(2, 1, split=0)
