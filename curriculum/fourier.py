"""Low-frequency cropping in the Fourier domain (EfficientTrain, Wang et al. ICCV 2023, Eq. 1 and Prop. 1).

``low_frequency_crop`` maps an image ``x`` of size ``H x W`` to the ``bh x bw`` image whose discrete Fourier
spectrum is the centred ``bh x bw`` block of ``x``'s spectrum, scaled by ``bh*bw / (H*W)`` so that intensities
(the DC term divided by the pixel count) are preserved:

    x_c = F^-1( C_{bh,bw}( F(x) ) ) * bh*bw / (H*W)

The 2-D DFT is separable, so the crop is done one axis at a time. For an odd target length every kept frequency
``-(b-1)/2 .. (b-1)/2`` is copied. For an even target length the output grid has a single Nyquist bin ``-b/2``,
which aliases the input's ``-b/2`` and ``+b/2`` bins; they are summed into it (as ``scipy.signal.resample`` does
when down-sampling). That keeps the cropped spectrum Hermitian, so the output is real up to round-off, and it
makes the crop the exact inverse of Fourier (zero-padding) up-sampling.

The map is linear and separable, and its 1-D factor is real (the folded spectrum is Hermitian), so the same crop is
also two real matrix products, ``x_c = M_bh x M_bw^T`` with ``M_b`` the ``b x n`` matrix whose columns are the 1-D
crops of the unit impulses. ``method="matrix"`` evaluates it that way; on the CPU it takes 7-11x less time than the FFTs
for a batch cropped from 64 px to 55, 46 or 27 (``benchmarks/supervised_costs.py`` times both per stage), so it is
the CPU's default. Other devices keep the FFTs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["low_frequency_crop", "LowFrequencyCrop", "crop_size_pair", "CROP_METHODS"]

CROP_METHODS = ("auto", "fft", "matrix")


def crop_size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """Return ``(bh, bw)`` from an int or a pair, rejecting anything that is not a positive integer size."""
    pair = (size, size) if isinstance(size, (int, np.integer)) else (
        tuple(size) if isinstance(size, (tuple, list)) else (size,))
    if len(pair) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in pair):
        raise ValueError(f"crop size must be an int or a pair of ints, got {size!r}")
    if min(pair) <= 0:
        raise ValueError(f"crop size must be positive, got {size!r}")
    return int(pair[0]), int(pair[1])


def _crop_axis(spectrum: torch.Tensor, target: int, dim: int) -> torch.Tensor:
    """Keep the ``target`` lowest frequencies of an (un-shifted) spectrum along ``dim``, folding the Nyquist bin."""
    n = spectrum.shape[dim]
    if target == n:
        return spectrum
    positive = (target + 1) // 2  # frequencies 0 .. positive-1
    negative = target // 2  # frequencies -negative .. -1
    idx = torch.cat([torch.arange(positive), torch.arange(n - negative, n)]).to(spectrum.device)
    out = spectrum.index_select(dim, idx)
    if target % 2 == 0:
        # Output bin `positive` (= -target/2) stands for both -target/2 and +target/2 of the input.
        nyquist = out.narrow(dim, positive, 1) + spectrum.narrow(dim, target // 2, 1)
        out = torch.cat([out.narrow(dim, 0, positive), nyquist, out.narrow(dim, positive + 1, negative - 1)], dim)
    return out


@lru_cache(maxsize=64)
def _axis_matrix(n: int, target: int) -> torch.Tensor:
    """The real ``target x n`` matrix of the 1-D crop (float64): column ``i`` is the crop of the unit impulse at
    ``i``, scaled by ``target / n``."""
    spectrum = _crop_axis(torch.fft.fft(torch.eye(n, dtype=torch.float64), dim=-1), target, -1)
    return (torch.fft.ifft(spectrum, dim=-1).real * (target / n)).T.contiguous()


def _crop_by_matrices(images: torch.Tensor, bh: int, bw: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    if bh != h:
        images = torch.matmul(_axis_matrix(h, bh).to(images.device, images.dtype), images)
    if bw != w:
        images = torch.matmul(images, _axis_matrix(w, bw).to(images.device, images.dtype).T)
    return images


def low_frequency_crop(images: torch.Tensor, size: int | Sequence[int], method: str = "auto") -> torch.Tensor:
    """Crop the centred ``size`` block of the Fourier spectrum of a batch ``[N, C, H, W]``.

    Works on any device and floating dtype (computed in float32 at least; returns the input dtype).
    ``size`` is ``b`` or ``(bh, bw)`` with ``1 <= bh <= H`` and ``1 <= bw <= W``. Returns ``[N, C, bh, bw]``.
    ``method``: ``fft`` (2-D FFT, crop, inverse FFT), ``matrix`` (the same map as two real matrix products) or
    ``auto`` (``matrix`` on the CPU, ``fft`` elsewhere).
    """
    if method not in CROP_METHODS:
        raise ValueError(f"low_frequency_crop method must be one of {CROP_METHODS}, got {method!r}")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"low_frequency_crop expects a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"low_frequency_crop expects a 4-D batch [N, C, H, W], got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"low_frequency_crop expects a floating-point tensor, got {images.dtype}")
    bh, bw = crop_size_pair(size)
    h, w = images.shape[-2:]
    if bh > h or bw > w:
        raise ValueError(f"crop size {(bh, bw)} exceeds the input size {(h, w)}; low-frequency cropping only shrinks")
    if (bh, bw) == (h, w):
        return images
    work = images.float() if images.dtype in (torch.float16, torch.bfloat16) else images
    if method == "matrix" or (method == "auto" and images.device.type == "cpu"):
        return _crop_by_matrices(work, bh, bw).to(images.dtype)
    spectrum = torch.fft.fft2(work)
    spectrum = _crop_axis(_crop_axis(spectrum, bh, -2), bw, -1)
    out = torch.fft.ifft2(spectrum).real * (bh * bw / (h * w))
    return out.to(images.dtype)


class LowFrequencyCrop:
    """Per-image low-frequency crop for CPU data pipelines (before batching).

    Accepts a ``[C, H, W]`` float tensor (returned as a tensor, unclipped) or a PIL image (returned as a PIL image of
    the same mode, values rounded and clipped to 0..255 because Fourier cropping can ring slightly outside them).
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = crop_size_pair(size)

    def __call__(self, image: torch.Tensor | Image.Image) -> torch.Tensor | Image.Image:
        if isinstance(image, Image.Image):
            array = np.asarray(image, dtype=np.float32)
            chw = torch.from_numpy(array if array.ndim == 3 else array[..., None]).permute(2, 0, 1)
            out = low_frequency_crop(chw[None], self.size)[0].permute(1, 2, 0).numpy()
            out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
            return Image.fromarray(out if array.ndim == 3 else out[..., 0], mode=image.mode)
        if isinstance(image, torch.Tensor) and image.dim() == 3:
            return low_frequency_crop(image[None], self.size)[0]
        raise TypeError(f"LowFrequencyCrop expects a PIL image or a [C, H, W] tensor, got {type(image).__name__}"
                        + (f" of shape {tuple(image.shape)}" if isinstance(image, torch.Tensor) else ""))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"
