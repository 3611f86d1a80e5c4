"""Training images decoded once and held as ``uint8`` pixels in memory (``data.cache_scale``, ``data.decode=reduced``).

A loader worker's sample on the CPU spends about half its time opening and decoding the file (Imagenette, 224 px
JPEGs: 0.3-0.45 ms of a 0.8 ms sample, ``benchmarks/supervised_costs.py``), and that cost is the same at every
curriculum stage. FFCV (Leclerc et al., CVPR 2023) removes it by storing decoded pixels; here the training set is
decoded once, before the loader starts, at the JPEG DCT scale ``1/s`` that ``data.cache_scale`` names (libjpeg's
reduced decode, as ``engine.decode`` uses it), into one ``uint8`` buffer that the forked loader workers share.

The crop (``engine.decode.RandomResizedCropDecode.decode_cached``) draws its box from the file's full size exactly as
from the file, then resamples from the cached pixels when the box allows a reduction of at least ``s`` (the
``reduced`` rule), and otherwise decodes the file as ``reduced`` does. So with ``cache_scale`` 1 every crop's pixels
are those of ``data.decode=full``; with ``s`` > 1 they are those of ``reduced`` wherever ``reduced`` would decode
at ``1/s``, and finer (closer to ``full``) where it would decode coarser; never coarser. Files other than JPEGs are
cached at full size; an unreadable file is not cached and is read, reported or skipped as ``data.on_corrupt``
says when its turn comes.

Memory: the pixels of the whole training set at ``1/s`` (Imagenette at 1/2: 0.36 GB; ImageNet-1k: about 135 GB at
1/2 and 34 GB at 1/4), once per machine. A cache that would take more than half of the machine's memory is refused
before anything is decoded. In a distributed run each machine's local rank 0 decodes into a file in ``/dev/shm``
that the machine's other ranks map after a barrier (``node_shared_cache``); its name is removed once every rank has
mapped it, so nothing is left behind, and a ``/dev/shm`` too small for it (a container's default is 64 MB) is refused
with its size before anything is decoded.
"""
from __future__ import annotations

import os
import pickle
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch.distributed as dist
from PIL import Image

from .data import UNREADABLE
from .decode import draft_scale

__all__ = ["CACHE_SCALES", "CachedImage", "DecodedCache", "check_cache_scale", "node_shared_cache",
           "attach_decoded_cache"]

CACHE_SCALES = (1, 2, 4, 8)


@dataclass(frozen=True)
class CachedImage:
    """An image's cached RGB pixels (``H x W x 3``), decoded at ``1/scale`` of ``full_size`` (width, height)."""
    pixels: np.ndarray
    full_size: tuple[int, int]
    scale: int
    jpeg: bool


def check_cache_scale(scale: int | None, decode: str) -> None:
    """Refuse a ``data.cache_scale`` that is not a libjpeg reduction or that the ``data.decode`` mode cannot use."""
    if scale is None:
        return
    if scale not in CACHE_SCALES:
        raise ValueError(f"data.cache_scale must be one of {CACHE_SCALES} (libjpeg's reductions) or null, "
                         f"got {scale!r}")
    if decode != "reduced":
        raise ValueError(f"data.cache_scale={scale} needs data.decode=reduced, whose crop reads the cache (got "
                         f"data.decode={decode})")


def _header(path: str, scale: int) -> tuple[int, int, int, int, int, bool] | None:
    """``(width, height, cached width, cached height, scale, jpeg)`` from the file's header, or None if unreadable."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            jpeg = image.format == "JPEG"
            s = draft_scale(image, scale)
            return width, height, image.size[0], image.size[1], s, jpeg
    except UNREADABLE:
        return None


def _decode(path: str, scale: int, out: np.ndarray) -> bool:
    try:
        with Image.open(path) as image:
            draft_scale(image, scale)
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            pixels = np.asarray(rgb)
    except UNREADABLE:
        return False
    if pixels.shape != out.shape:
        return False
    out[...] = pixels
    return True


class DecodedCache:
    """The files ``paths`` decoded at ``1/scale`` (``threads`` at a time: Pillow decodes without the GIL) into the
    ``uint8`` buffer that ``allocate(nbytes)`` returns (private memory by default)."""

    def __init__(self, paths: list[str], scale: int, threads: int | None = None, memory_bytes: int | None = None,
                 allocate: Callable[[int], np.ndarray] | None = None):
        threads = threads or len(os.sched_getaffinity(0))
        self.origin = "decoded"  # or "mapped": another process decoded it (``mapped``)
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            headers = list(pool.map(lambda p: _header(p, scale), paths, chunksize=256))
        sizes = np.array([h[2] * h[3] * 3 if h else 0 for h in headers], dtype=np.int64)
        self.nbytes = int(sizes.sum())
        memory = memory_bytes or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if self.nbytes > memory / 2:
            raise ValueError(f"data.cache_scale={scale} would hold {self.nbytes / 1e9:.1f} GB of decoded pixels for "
                             f"{len(paths)} images, more than half of this machine's {memory / 1e9:.0f} GB: use a "
                             f"coarser scale ({', '.join(str(s) for s in CACHE_SCALES if s > scale)}) or no cache")
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.buffer = allocate(self.nbytes) if allocate else np.empty(self.nbytes, dtype=np.uint8)
        self.headers = headers
        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(self._fill, range(len(paths)), paths, chunksize=256))
        self.headers = [h if ok else None for h, ok in zip(headers, done)]
        self.scale, self.seconds = scale, time.perf_counter() - started

    def save_index(self, path: str) -> None:
        """Write what a process needs besides the pixels to read them (``mapped``)."""
        with open(path, "wb") as file:
            pickle.dump({key: value for key, value in vars(self).items() if key != "buffer"}, file)

    @classmethod
    def mapped(cls, pixels: str, index: str) -> DecodedCache:
        """The cache another process decoded into the file ``pixels`` (its ``save_index`` in ``index``), mapped
        read-only."""
        with open(index, "rb") as file:
            state = pickle.load(file)
        cache = cls.__new__(cls)
        cache.__dict__.update(state, origin="mapped")
        cache.buffer = np.memmap(pixels, dtype=np.uint8, mode="r", shape=(max(1, cache.nbytes),))[:cache.nbytes]
        return cache

    def _fill(self, index: int, path: str) -> bool:
        header = self.headers[index]
        return header is not None and _decode(path, header[4], self._view(index, header))

    def _view(self, index: int, header) -> np.ndarray:
        start = self.offsets[index]
        return self.buffer[start:start + header[2] * header[3] * 3].reshape(header[3], header[2], 3)

    def __len__(self) -> int:
        return len(self.headers)

    @property
    def cached(self) -> int:
        """Images held (the others are read from their files)."""
        return sum(h is not None for h in self.headers)

    def __getitem__(self, index: int) -> CachedImage | None:
        header = self.headers[index]
        if header is None:
            return None
        return CachedImage(self._view(index, header), (header[0], header[1]), header[4], header[5])

    def describe(self) -> str:
        shared = ", one copy per machine" if isinstance(self.buffer, np.memmap) else ""
        return (f"decoded cache: {self.cached} of {len(self)} training images at 1/{self.scale} scale, "
                f"{self.nbytes / 1e6:.0f} MB{shared}, built in {self.seconds:.1f} s (engine.decoded_cache)")


def _shared_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def _shared_file(path: str, nbytes: int) -> np.ndarray:
    """A ``uint8`` buffer of ``nbytes`` backed by the file ``path``, refused if its file system lacks the room
    (writing past a full ``/dev/shm`` would kill the process with SIGBUS)."""
    stats = os.statvfs(os.path.dirname(path))
    free = stats.f_bavail * stats.f_frsize
    if nbytes > free:
        raise ValueError(f"data.cache_scale: the machine's shared copy of the decoded cache needs "
                         f"{nbytes / 1e9:.2f} GB in {os.path.dirname(path)}, which has {free / 1e9:.2f} GB free "
                         f"(a container needs a larger --shm-size), or use a coarser scale or no cache")
    return np.memmap(path, dtype=np.uint8, mode="w+", shape=(max(1, nbytes),))[:nbytes]


def node_shared_cache(paths: list[str], scale: int, local_rank: int) -> DecodedCache:
    """One ``DecodedCache`` per machine of a distributed run (every rank calls it): local rank 0 decodes into a file
    in ``/dev/shm``, the machine's other ranks map that file after a barrier, and its name is removed after a
    second barrier (the mappings stay valid). A failure to build on local rank 0 fails every rank of the machine."""
    token = [secrets.token_hex(8)]
    dist.broadcast_object_list(token, src=0)  # one name for the run, unlike any other run's on the machine
    pixels = os.path.join(_shared_dir(), f"efficienttrain-decoded-cache-{token[0]}")
    index = pixels + ".index"
    cache, error = None, None
    if local_rank == 0:
        try:
            cache = DecodedCache(paths, scale, allocate=lambda nbytes: _shared_file(pixels, nbytes))
            cache.save_index(index + ".part")
            os.replace(index + ".part", index)
        except Exception as caught:  # the barrier first, so the other ranks fail instead of waiting
            error = caught
    dist.barrier()
    try:
        if error is not None:
            raise error
        if cache is None:
            if not os.path.exists(index):
                raise RuntimeError(f"data.cache_scale: local rank 0 of this machine did not build the decoded cache "
                                   f"({index} is missing); its own error says why")
            cache = DecodedCache.mapped(pixels, index)
    finally:
        dist.barrier()
        if local_rank == 0:
            for path in (pixels, index, index + ".part"):
                if os.path.exists(path):
                    os.unlink(path)
    return cache


def attach_decoded_cache(dataset, scale: int | None, decode: str, report=print, local_rank: int | None = None) -> float:
    """Give ``dataset`` (a file-backed ``engine.data.LabelledImages``) a ``DecodedCache`` at ``1/scale``; returns the
    seconds it took to build (the loop counts them as training time). In a distributed run (``local_rank`` given and
    a process group of more than one) the machine's ranks share one copy (``node_shared_cache``)."""
    check_cache_scale(scale, decode)
    if scale is None:
        return 0.0
    if not hasattr(dataset, "samples") or not hasattr(dataset, "cache"):
        raise ValueError(f"data.cache_scale needs a dataset of image files; {type(dataset).__name__} has none")
    paths = [path for path, _ in dataset.samples]
    shared = local_rank is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    dataset.cache = node_shared_cache(paths, scale, local_rank) if shared else DecodedCache(paths, scale)
    if report is not None:
        report(dataset.cache.describe())
    return dataset.cache.seconds
