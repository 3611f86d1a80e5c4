"""timm's RandAugment policy on a ``uint8`` batch on the training device, drawn per sample.

The policy is timm's ``rand-m{m}-n{n}-mstd{std}-inc1`` (``timm/data/auto_augment.py``: ``rand_augment_transform``,
``RandAugment``, ``AugmentOp``), which EfficientTrain's recipes use with a magnitude the schedule raises over
training: for every sample and each of its ``n`` layers, one of the 15 ops of ``_RAND_INCREASING_TRANSFORMS`` is
drawn uniformly (with replacement), applied with probability 0.5, at a magnitude drawn from N(m, std) and clipped
to [0, 10], with a random sign for the signed ops; m = 0 is allowed (the magnitude-free AutoContrast, Equalize and
Invert still apply). kornia's ``RandAugment`` draws its ops once per batch, has no magnitude noise and refuses
m = 0, so this is our own per-sample selection over batched ops.

Each op reproduces Pillow's, which timm calls (``Pillow/src/PIL/ImageOps.py``, ``ImageEnhance.py``,
``libImaging/Geometry.c``): the point ops and Equalize exactly, the enhancements' blends in float32 with Pillow's
truncation, the geometric ops by Pillow's affine convention (source coordinates of the output pixel centres, fill
outside the image, edge pixels repeated for the kernel) with its transform's bicubic kernel (a = -1).
``tests/engine/test_randaugment.py`` states and checks the tolerance of every op against timm on the same image.

The random numbers come from ``engine.keyed_random``: a pure function of each sample's key, so the augmentation of
a sample does not depend on its rank or batch position and a resumed run draws the same.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .keyed_random import keyed_uniform

__all__ = ["BatchedRandAugment", "OPS"]

# timm's _RAND_INCREASING_TRANSFORMS, in its order
OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
       "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
       "TranslateXRel", "TranslateYRel")
_DRAWS = 5  # uniforms a layer: op, apply, two for the magnitude's normal deviate, sign
_SALT = 0x5EED_A116  # keeps these draws apart from other users of a sample's key (MAE's mask)


class BatchedRandAugment:
    """``rand-m{m}-n{layers}-mstd{magnitude_std}-inc1`` with ops applied with probability ``prob``; ``fill``: the
    colour geometric ops leave outside the image (timm: the mean in 0-255, ``img_mean``); ``translate_pct``: timm's
    ``TranslateXRel`` / ``TranslateYRel`` range at magnitude 10; ``interpolation``: of the geometric ops (timm's
    ``hparams['interpolation']``; ``bicubic`` or ``bilinear``)."""

    def __init__(self, layers: int = 2, magnitude_std: float = 0.5, prob: float = 0.5,
                 fill: tuple[int, int, int] = (124, 116, 104), translate_pct: float = 0.45,
                 interpolation: str = "bicubic"):
        if interpolation not in _TAPS:
            raise ValueError(f"interpolation must be one of {sorted(_TAPS)}, got {interpolation!r}")
        self.layers, self.magnitude_std, self.prob = layers, magnitude_std, prob
        self.fill, self.translate_pct, self.interpolation = fill, translate_pct, interpolation

    def draw(self, keys: torch.Tensor, magnitude: float, seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Per sample and layer (``N x layers`` each): the op index (into ``OPS``; -1 where the op is skipped), its
        magnitude (in timm's 0-10 scale, after the noise and the clip) and its sign (+1 / -1)."""
        u = keyed_uniform(keys.to(torch.int64) * 1_000_003 + seed * 104_729 + _SALT, self.layers * _DRAWS)
        u = u.view(len(keys), self.layers, _DRAWS).double()
        op = (u[..., 0] * len(OPS)).long().clamp(max=len(OPS) - 1)
        op = torch.where(u[..., 1] < self.prob, op, -1)  # timm skips when random() > prob
        normal = torch.sqrt(-2 * torch.log1p(-u[..., 2])) * torch.cos(2 * math.pi * u[..., 3])  # Box-Muller
        level = (magnitude + self.magnitude_std * normal).clamp(0.0, 10.0)
        sign = torch.where(u[..., 4] > 0.5, -1.0, 1.0)  # timm's _randomly_negate
        return op, level.float(), sign.float()

    def __call__(self, images: torch.Tensor, keys: torch.Tensor, magnitude: float, seed: int = 0) -> torch.Tensor:
        """``images`` (``N x 3 x H x W`` uint8) augmented, one draw per sample from its key. The draws and the
        choice of samples per op are made on the host from ``keys`` there (the loader's), so that an accelerator's
        queue is never waited for; what an op needs crosses in asynchronous copies."""
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"BatchedRandAugment takes an N x 3 x H x W uint8 batch, got {images.dtype} "
                             f"{tuple(images.shape)}")
        op, level, sign = self.draw(keys.cpu(), magnitude, seed)
        out = images.clone()
        for layer in range(self.layers):
            for index, name in enumerate(OPS):
                chosen = (op[:, layer] == index).nonzero().squeeze(1)
                if len(chosen):
                    at, lv, sg = (_to(t, images.device) for t in (chosen, level[chosen, layer], sign[chosen, layer]))
                    out[at] = self.apply(name, out[at], lv, sg)
        return out

    def apply(self, name: str, x: torch.Tensor, level: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """Op ``name`` on ``x`` (``n x 3 x H x W`` uint8) at per-sample ``level`` (0-10) and ``sign``, with timm's
        level-to-argument functions."""
        if name in _POINT:
            return _POINT[name](x, level)
        if name in _ENHANCE:  # timm's _enhance_increasing_level_to_arg
            factor = (1.0 + sign * level / 10 * 0.9).clamp(min=0.1)
            return _blend(_ENHANCE[name](x), x, factor)
        height, width = x.shape[-2:]
        n = len(x)
        eye = torch.tensor([1.0, 0, 0, 0, 1, 0], dtype=torch.float64, device=x.device).repeat(n, 1)
        signed = (sign * level / 10).double()
        if name == "Rotate":
            return self._affine(x, _rotation(signed * 30, width, height))
        if name in ("ShearX", "ShearY"):
            eye[:, 1 if name == "ShearX" else 3] = signed * 0.3
        else:  # TranslateXRel / TranslateYRel: a fraction of the width / height
            eye[:, 2 if name == "TranslateXRel" else 5] = signed * self.translate_pct * (
                width if name == "TranslateXRel" else height)
        return self._affine(x, eye)

    def _affine(self, x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        """Pillow's ``Image.transform(AFFINE)``: output pixel (x, y) takes the source at ``(a X + b Y + c,
        d X + e Y + f)`` for its centre ``(X, Y) = (x + 0.5, y + 0.5)``; ``fill`` where that lies outside."""
        n, _, height, width = x.shape
        ys, xs = torch.meshgrid(torch.arange(height, device=x.device, dtype=torch.float64) + 0.5,
                                torch.arange(width, device=x.device, dtype=torch.float64) + 0.5, indexing="ij")
        a, b, c, d, e, f = (m.view(n, 1, 1) for m in matrix.unbind(1))
        sx, sy = a * xs + b * ys + c, d * xs + e * ys + f  # n x H x W
        inside = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
        out = _sample(x, sx - 0.5, sy - 0.5, _TAPS[self.interpolation])
        fill = torch.tensor(self.fill, dtype=torch.uint8, device=x.device).view(1, 3, 1, 1)
        return torch.where(inside.unsqueeze(1), out, fill)


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device``, copied without waiting (pinned) when that is an accelerator."""
    return tensor if device.type == "cpu" else tensor.pin_memory().to(device, non_blocking=True)


def _rotation(degrees: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pillow's ``Image.rotate`` (counter-clockwise about the centre, no expansion) as affine coefficients."""
    angle = -torch.deg2rad(degrees)
    cos, sin = angle.cos(), angle.sin()
    cx, cy = width / 2, height / 2
    return torch.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy], 1)


def _cubic(t: torch.Tensor, a: float = -1.0) -> torch.Tensor:
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((t - 5) * t + 8) * t * a - 4 * a
    return torch.where(t < 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


# taps (offsets from the floor) and kernels of Pillow's transform filters (``Geometry.c``: its BICUBIC is a = -1,
# not the a = -0.5 of its resize)
_TAPS = {"bicubic": ((-1, 0, 1, 2), _cubic), "bilinear": ((0, 1), lambda t: (1 - t.abs()).clamp(min=0))}


def _sample(x: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, taps) -> torch.Tensor:
    """``x`` sampled at pixel coordinates ``(sx, sy)`` (``n x H x W``) by a separable kernel over the ``taps``
    around the floor, the image's edge pixels repeated beyond it; truncated to uint8 as Pillow does."""
    offsets, kernel = taps
    n, channels, height, width = x.shape
    x0, y0 = sx.floor(), sy.floor()
    dx, dy = sx - x0, sy - y0
    flat = x.reshape(n, channels, height * width).float()
    out = torch.zeros(n, channels, sx.shape[1] * sx.shape[2], dtype=torch.float64, device=x.device)
    for j in offsets:
        row = (y0 + j).clamp(0, height - 1).long() * width
        wy = kernel(dy - j)
        for i in offsets:
            column = (x0 + i).clamp(0, width - 1).long()
            index = (row + column).view(n, 1, -1).expand(n, channels, -1)
            weight = (wy * kernel(dx - i)).view(n, 1, -1)
            out += flat.gather(2, index).double() * weight
    return out.clamp(0, 255).trunc().to(torch.uint8).view(n, channels, *sx.shape[1:])


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Pillow's ``Image.blend(degenerate, x, factor)``: ``degenerate + factor (x - degenerate)`` in float32,
    truncated to 0-255 (``libImaging/Blend.c``)."""
    d = degenerate.float()
    return (d + factor.view(-1, 1, 1, 1) * (x.float() - d)).clamp(0, 255).trunc().to(torch.uint8)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Pillow's RGB -> L (ITU-R 601-2 luma in 16-bit fixed point, rounded), ``n x 1 x H x W`` int64."""
    r, g, b = x.long().unbind(1)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).unsqueeze(1)


def _contrast_degenerate(x: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Contrast``: an image of the grey level's mean, rounded half up."""
    mean = _grey(x).double().mean((1, 2, 3))
    return (mean + 0.5).floor().to(torch.uint8).view(-1, 1, 1, 1).expand_as(x)


def _smooth(x: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Sharpness``'s degenerate: ``ImageFilter.SMOOTH`` (3 x 3, centre 5, others 1, / 13, rounded),
    the border pixels kept (``libImaging/Filter.c``)."""
    kernel = torch.ones(3, 1, 3, 3, device=x.device)
    kernel[:, :, 1, 1] = 5
    inner = F.conv2d(x.float(), kernel / 13, groups=3)
    out = x.clone()
    out[:, :, 1:-1, 1:-1] = (inner + 0.5).floor().clamp(0, 255).to(torch.uint8)
    return out


def _autocontrast(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """``ImageOps.autocontrast`` (no cutoff): each channel's range stretched to 0-255, truncated."""
    low, high = x.amin((2, 3), keepdim=True).double(), x.amax((2, 3), keepdim=True).double()
    scale = 255.0 / (high - low).clamp(min=1)
    out = (x.double() * scale - low * scale).trunc().clamp(0, 255).to(torch.uint8)
    return torch.where(high > low, out, x)


def _equalize(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """``ImageOps.equalize``: per channel, the look-up table ``(step // 2 + pixels below) // step`` with
    ``step = (pixels - pixels at the top level) // 255``; unchanged where that is 0 or one level is used."""
    n, channels, height, width = x.shape
    flat = x.reshape(n * channels, -1).long()
    base = torch.arange(n * channels, device=x.device).view(-1, 1) * 256
    hist = torch.zeros(n * channels * 256, dtype=torch.long, device=x.device)  # bincount would sync for its size
    hist = hist.scatter_add_(0, (flat + base).reshape(-1), torch.ones_like(flat).reshape(-1)).view(n * channels, 256)
    top = (hist > 0).long().cumsum(1).argmax(1, keepdim=True)  # the highest level in use
    step = (height * width - hist.gather(1, top)) // 255
    below = hist.cumsum(1) - hist
    lut = ((step // 2 + below) // step.clamp(min=1)).clamp(max=255)
    keep = (step == 0) | ((hist > 0).sum(1, keepdim=True) <= 1)
    lut = torch.where(keep, torch.arange(256, device=x.device), lut)
    return lut.gather(1, flat).to(torch.uint8).view_as(x)


def _posterize(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """timm's ``PosterizeIncreasing``: keep ``4 - int(level / 10 * 4)`` bits (0 bits: black, as the TF reference
    and ``finetune.transforms.posterize_keeping_zero_bits``)."""
    bits = 4 - (level / 10 * 4).long()
    mask = (0xFF << (8 - bits)) & 0xFF
    return x & mask.to(torch.uint8).view(-1, 1, 1, 1)


def _solarize(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """timm's ``SolarizeIncreasing``: invert the levels at or above ``256 - int(level / 10 * 256)``."""
    threshold = (256 - (level / 10 * 256).long().clamp(max=256)).view(-1, 1, 1, 1)
    return torch.where(x.long() >= threshold, 255 - x, x)


def _solarize_add(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """timm's ``SolarizeAdd``: add ``min(128, int(level / 10 * 110))`` to the levels below 128, up to 255."""
    add = (level / 10 * 110).long().clamp(max=128).view(-1, 1, 1, 1)
    return torch.where(x < 128, (x.long() + add).clamp(max=255).to(torch.uint8), x)


_POINT = {"AutoContrast": _autocontrast, "Equalize": _equalize, "Invert": lambda x, level: 255 - x,
          "PosterizeIncreasing": _posterize, "SolarizeIncreasing": _solarize, "SolarizeAdd": _solarize_add}
_ENHANCE = {"ColorIncreasing": lambda x: _grey(x).expand_as(x).to(torch.uint8),
            "ContrastIncreasing": _contrast_degenerate,
            "BrightnessIncreasing": torch.zeros_like,
            "SharpnessIncreasing": _smooth}
