"""Batches decoded ahead in a thread (``engine.decode_ahead``), run here on the CPU: the loader's order and
samples, the same pixels as decoding in the loop, errors raised in the training thread, and a clean stop."""
import itertools
import random
import threading

import pytest
import torch

from engine.data import CorruptImageError, collate_samples, load_rgb
from engine.decode_ahead import DecodeAhead, loader_batches
from engine.device_decode import EncodedBatch, EncodedCrop
from tests.engine.test_device_decode import photos

CPU = torch.device("cpu")


def encoded_batches(count, per_batch=3):
    crop = EncodedCrop(64, scale=(0.2, 1.0))
    paths = itertools.cycle(photos(6))
    random.seed(0)
    for b in range(count):
        items = [(load_rgb(next(paths), crop.decode), b, b * per_batch + i, 0) for i in range(per_batch)]
        yield collate_samples(items)


def test_batches_come_in_order_decoded_as_in_the_loop():
    expected = [(batch[0].decode(CPU), *batch[1:]) for batch in encoded_batches(5)]
    plain = (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.tensor([7, 7]))  # not encoded: passed through
    with DecodeAhead(itertools.chain(encoded_batches(5), [plain]), CPU) as ahead:
        got = list(ahead)
    assert len(got) == 6 and torch.equal(got[-1][0], plain[0])
    for (images, *rest), (want, *want_rest) in zip(got, expected):
        assert not isinstance(images, EncodedBatch) and torch.equal(images, want)
        assert all(torch.equal(a, b) for a, b in zip(rest, want_rest))


def test_an_error_in_the_thread_is_raised_by_next(tmp_path):
    data = photos(1)[0].read_bytes()
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(data[:len(data) // 3])
    crop = EncodedCrop(64, scale=(0.2, 1.0))
    bad = collate_samples([(load_rgb(broken, crop.decode), 0, 0, 0)])
    with DecodeAhead(itertools.chain(encoded_batches(1), [bad]), CPU) as ahead:
        next(ahead)
        with pytest.raises(CorruptImageError, match="truncated.jpg"):
            next(ahead)


def test_with_skip_a_replaced_sample_takes_its_replacements_target_and_counts_a_skip(tmp_path):
    data = photos(1)[0].read_bytes()
    broken = tmp_path / "truncated.jpg"
    broken.write_bytes(data[:len(data) // 3])
    crop = EncodedCrop(64, scale=(0.2, 1.0))
    batch = collate_samples([(load_rgb(path, crop.decode), 10 + i, 100 + i, 0)
                             for i, path in enumerate([photos(2)[0], broken, photos(2)[1]])])
    with DecodeAhead(iter([batch]), CPU, on_corrupt="skip") as ahead:
        images, targets, keys, skipped = next(ahead)
    assert torch.equal(images[1], images[2])
    assert targets.tolist() == [10, 12, 12] and keys.tolist() == [100, 101, 102] and skipped.tolist() == [0, 1, 0]


def test_close_stops_the_thread_and_stops_reading_the_loader():
    taken = []

    def endless():
        for batch in itertools.cycle(list(encoded_batches(2))):
            taken.append(1)
            yield batch

    before = threading.active_count()
    ahead = DecodeAhead(endless(), CPU, depth=2)
    next(ahead)
    ahead.close()
    read = len(taken)
    assert threading.active_count() == before and read <= 1 + 2 + 1  # the one taken, the queue, one in hand
    assert len(taken) == read


def test_loader_batches_decode_ahead_only_for_device_decoding():
    batches = list(encoded_batches(1))
    with loader_batches(batches, "full", CPU) as plain:
        assert isinstance(next(plain)[0], EncodedBatch)
    for decode in ("device", "box"):
        with loader_batches(batches, decode, CPU) as ahead:
            assert isinstance(ahead, DecodeAhead) and next(ahead)[0].dtype == torch.uint8


def test_the_next_batch_is_decoded_while_the_step_runs(monkeypatch):
    """What the 38c808f GPU rows lacked (README): decoding in the loop, batch 1 would start only at the next call."""
    started = [threading.Event() for _ in range(3)]
    count = itertools.count()

    def decode(self, device, on_corrupt="error"):
        started[next(count)].set()
        return torch.zeros(1, dtype=torch.uint8)

    monkeypatch.setattr(EncodedBatch, "decode", decode)
    with DecodeAhead(encoded_batches(3), CPU) as ahead:
        next(ahead)  # batch 0 in hand: the training step would run now
        assert started[1].wait(timeout=60)  # and batch 1 is decoded meanwhile, without another call
