"""RandomResizedCrop that decodes a JPEG at reduced scale when the crop box allows (``data.decode=reduced``).

libjpeg can decode at 1/2, 1/4 or 1/8 of the full size straight from the DCT coefficients (only the low
``8/s x 8/s`` coefficients of each 8x8 block are inverse-transformed, so the reduced image is a block-wise low-pass
of the full one); Pillow exposes it as ``Image.draft``. A RandomResizedCrop that shrinks its box by ``s`` or more
can start from that image instead of decoding every pixel: the box is drawn from the file header exactly as
the ``full`` crop draws it (``engine.random_crop``, same random numbers), the file is decoded at the coarsest
scale ``s`` that keeps the box at least the output size on both sides, and the box, now in fractional pixels of
the reduced image, is resampled to the output with Pillow's ``resize(box=...)``. Loading is what bounds MAE
pre-training on GPUs: DailyMAE (Wu et al., arXiv 2404.00509) makes it up to 5.8x faster mostly by fixing the data
pipeline.

The reduced path changes pixels slightly (a different low-pass before the same resampling; the tolerance is stated
and tested in ``tests/engine/test_decode.py``) and never the crop box, the flip or the random stream; when no
reduction applies (``s = 1``, non-JPEG files, images already decoded) the output equals the ``full`` crop's
(torchvision's ``RandomResizedCrop`` on the same box) pixel for pixel.

Contract with the datasets (``engine.data``): a transform whose first step has ``decode(opened_image)`` gets the
file opened but not decoded; ``decode`` returns a ``DecodedCrop`` that the step's ``forward`` finishes. A dataset
holding decoded pixels (``engine.decoded_cache``) hands them to ``decode_cached`` instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from .random_crop import RandomResizedCrop, draw_box

if TYPE_CHECKING:
    from .decoded_cache import CachedImage

__all__ = ["DecodedCrop", "RandomResizedCropDecode", "DCT_SCALES", "draft_scale"]

DCT_SCALES = (8, 4, 2)  # libjpeg's reductions, coarsest first
_PIL_RESAMPLE = {InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
                 InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
                 InterpolationMode.LANCZOS: Image.Resampling.LANCZOS}


def draft_scale(image: Image.Image, scale: int) -> int:
    """Have libjpeg decode the opened, not yet loaded ``image`` at ``1/scale`` (Pillow's ``draft``) and return the
    scale it will decode at: 1 for ``scale`` 1, files other than JPEGs and images already decoded."""
    if scale <= 1 or image.format != "JPEG":
        return 1
    width = image.width
    drafted = image.draft("RGB", (width // scale, image.height // scale))
    return round(width / drafted[1][2]) if drafted else 1


@dataclass
class DecodedCrop:
    """An RGB image decoded at ``1/scale`` of the file's size and the crop box ``(left, top, right, bottom)`` in its
    pixels (fractional when ``scale > 1``)."""
    image: Image.Image
    box: tuple[float, float, float, float]
    scale: int


class RandomResizedCropDecode(RandomResizedCrop):
    """``engine.random_crop.RandomResizedCrop`` (same arguments, same crop boxes) that, given an opened JPEG
    through ``decode``, decodes it at reduced scale when the box allows."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR):
        super().__init__(size, scale, ratio, interpolation)
        if interpolation not in _PIL_RESAMPLE:
            raise ValueError(f"RandomResizedCropDecode supports {sorted(m.value for m in _PIL_RESAMPLE)} "
                             f"interpolation, got {interpolation}")

    def dct_scale(self, width: int, height: int) -> int:
        """The coarsest libjpeg reduction that keeps a ``width x height`` box at least the output size."""
        out_h, out_w = self.size
        for s in DCT_SCALES:
            if width >= s * out_w and height >= s * out_h:
                return s
        return 1

    def decode(self, image: Image.Image) -> DecodedCrop:
        """Draw the crop box from ``image``'s header size, decode at the box's scale and return both."""
        return self._decode_box(image, *self.get_params(image, self.scale, self.ratio))

    def decode_cached(self, cached: CachedImage, load: Callable) -> DecodedCrop:
        """The crop of an image held by ``engine.decoded_cache``: the box drawn from its full size as ``decode``
        draws it, resampled from the cached pixels when the box allows their reduction, else decoded from the file
        (``load(decode_function)``) as ``decode`` would."""
        width, height = cached.full_size
        top, left, h, w = draw_box(width, height, self.scale, self.ratio)
        s = self.dct_scale(w, h) if cached.jpeg else 1
        if s < cached.scale:
            return load(lambda image: self._decode_box(image, top, left, h, w))
        c = cached.scale
        return DecodedCrop(Image.fromarray(cached.pixels), (left / c, top / c, (left + w) / c, (top + h) / c), c)

    def _decode_box(self, image: Image.Image, top: int, left: int, h: int, w: int) -> DecodedCrop:
        s = draft_scale(image, self.dct_scale(w, h))
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        rgb.load()
        return DecodedCrop(rgb, (left / s, top / s, (left + w) / s, (top + h) / s), s)

    def forward(self, image: Image.Image | DecodedCrop) -> Image.Image:
        if not isinstance(image, DecodedCrop):
            image = self.decode(image)
        if image.scale == 1:  # torchvision's own crop + resize: identical pixels
            left, top, right, bottom = (round(v) for v in image.box)
            return F.resized_crop(image.image, top, left, bottom - top, right - left, self.size, self.interpolation)
        out_h, out_w = self.size
        return image.image.resize((out_w, out_h), _PIL_RESAMPLE[self.interpolation], box=image.box)
