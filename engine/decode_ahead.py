"""The next batches decoded while the training step runs (``data.decode=device``).

``EncodedBatch.decode`` blocks the calling thread until nvJPEG is done (torchvision synchronises its decode
stream), and the training process is also the one launching the model's kernels: decoding in the loop between two
steps leaves the GPU without work. ``DecodeAhead`` decodes up to ``depth`` batches ahead in a thread, on a CUDA
stream of its own; the training stream waits for each batch's event before using it, as timm's ``PrefetchLoader``
does for its copies. torch's ops release the GIL while they run, so the thread's decode and the step's launches
overlap. Batches come out in the loader's order, unchanged but for the decoded images; an error in the thread (a
corrupt file: ``CorruptImageError``) is raised by ``next`` in the training thread, or with ``on_corrupt="skip"``
the file's sample is replaced by the next readable one of its batch, whose target it takes, and counted in the
batch's ``skipped`` (``Encoded.collate``'s ``(images, targets, keys, skipped)``).
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Iterator

import torch

from .device_decode import ON_DEVICE, EncodedBatch

__all__ = ["DecodeAhead", "loader_batches"]

_END = object()


class DecodeAhead:
    """Iterates ``batches`` (``(images, *rest)`` tuples, images possibly an ``EncodedBatch``) with every
    ``EncodedBatch`` decoded on ``device`` up to ``depth`` batches ahead. ``close()`` (or ``with``) stops the thread
    and lets go of the loader; batches not yet taken are dropped. ``on_corrupt``: ``data.on_corrupt``."""

    def __init__(self, batches: Iterator, device: torch.device, depth: int = 2, on_corrupt: str = "error"):
        self.device = device
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_decode_ahead,
                                        args=(batches, device, self._queue, self._stop, on_corrupt),
                                        name="decode-ahead", daemon=True)
        self._thread.start()

    def __iter__(self) -> DecodeAhead:
        return self

    def __next__(self) -> tuple:
        item = self._queue.get()
        if item is _END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        images, rest, ready = item
        if ready is not None:  # the training stream uses the images once the thread's stream has made them
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(ready)
            images.record_stream(stream)
        return (images, *rest)

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread; it finishes the batch in hand (up to ``timeout`` s: a daemon, it never blocks exit)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):  # unblock a put
                self._queue.get(timeout=0.05)

    def __enter__(self) -> DecodeAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def loader_batches(loader, decode: str, device: torch.device, on_corrupt: str = "error") -> Iterator:
    """``loader``'s batches, decoded ahead on ``device`` when ``decode`` (the trainer's ``data.decode``) leaves
    the decoding or the crop to the training process (``ON_DEVICE``); stopped on leaving the ``with``."""
    if decode not in ON_DEVICE:
        yield iter(loader)
        return
    with DecodeAhead(iter(loader), device, on_corrupt=on_corrupt) as batches:
        yield batches


def _decode_ahead(batches: Iterator, device: torch.device, out: queue.Queue, stop: threading.Event,
                  on_corrupt: str) -> None:
    stream = torch.cuda.Stream(device) if device.type == "cuda" else None
    try:
        for images, *rest in batches:
            ready = None
            if isinstance(images, EncodedBatch):
                with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                    encoded, images = images, images.decode(device, on_corrupt)
                    if encoded.replaced:
                        rest = _count_replaced(rest, encoded.replaced)
                    if stream is not None:
                        ready = torch.cuda.Event()
                        ready.record(stream)
            if not _put(out, (images, rest, ready), stop):
                return
        _put(out, _END, stop)
    except BaseException as err:  # noqa: BLE001 - handed to the training thread, which raises it
        _put(out, err, stop)


def _count_replaced(rest: list, replaced: list[tuple[int, int]]) -> list:
    """``(targets, keys, skipped)`` after ``replaced`` samples took their replacements' places: each takes its
    replacement's target (its key stays: a sample's key is its place in the stream) and counts one skip."""
    targets, keys, skipped = rest
    targets, skipped = targets.clone(), skipped.clone()
    for i, j in replaced:
        targets[i] = targets[j]
        skipped[i] += 1
    return [targets, keys, skipped]


def _put(out: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; False when stopped."""
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            out.put(item, timeout=0.05)
            return True
    return False
