"""JPEG decoding and RandomResizedCrop on the training device (``data.decode=device``): the loader workers only
read files and draw the random numbers, the GPU does the pixels (``data.decode=box``: the resampling alone).

Why: on one H200 with 16 CPU cores, Pillow decoding plus the crop's resampling (5 ms a 224 px sample) caps the
loader below MAE ViT-B's own rate at every stage, so a curriculum cannot shorten wall time
(``benchmarks/results/gpu_mae_vit_base_224.json``), while ``torchvision.io.decode_jpeg`` decodes a batch of the same
JPEGs with nvJPEG at 17,491 images/s (``benchmarks/results/gpu_loader_costs.json``). DALI's nvJPEG random-crop
decoder is the field's tool for this; this module does the same with torchvision alone.

* Worker (``EncodedCrop``, a transform step with ``decode``, see ``engine.data.load_rgb``): from the opened file's
  header it draws the crop box and the flip as the ``full`` path's ``engine.random_crop`` steps do (same calls, same
  order, so the same random numbers as ``data.decode=full``) and returns the file's bytes. Files nvJPEG is not given
  (not a baseline RGB JPEG: PNG, grayscale, CMYK, progressive) and images that are already decoded travel as the
  box's pixels, decoded by Pillow in the worker; with ``data.decode=box`` every image does (for GPUs without a
  hardware JPEG decoder, where torchvision decodes one image at a time with the Huffman decoding on the host,
  ``torchvision/csrc/io/image/cuda/decode_jpegs_cuda.cpp``: the workers keep the decoding and lose the resampling).
* Training process (``EncodedBatch.decode``): one batched ``decode_jpeg`` on the device, then the crop, resampling
  and flip of every image as two batched matrix products with Pillow's own resampling weights (``resample_weights``:
  its bicubic or Lanczos kernel, widened by the downscale factor, normalised per output pixel, zero outside the
  box) over the images zero-padded into one batch, ``uint8`` out as the CPU loader gives. The padding copies a run
  of like-sized photos at a time (one copy a box for ``box``), so the thread that decodes ahead of the training step
  spends little of the GIL the step's kernel launches also need. The pixels differ from ``data.decode=full`` only
  by rounding: Pillow resamples in fixed point with an 8-bit intermediate, this in float
  (``tests/engine/test_device_decode.py`` bounds the difference).

With ``device``, a corrupt file is found when the batch is decoded, in the training process: it is named
(``CorruptImageError``) and stops the run, or with ``data.on_corrupt=skip`` is replaced by the next readable sample
of its batch (its pixels, box, flip and target), logged by path and counted in the batch's ``skipped``, as the
workers replace one with the next readable file (tested on the CPU decoder, which raises on a truncated file;
whether nvJPEG raises on every damaged file is not verified). A file whose header Pillow cannot read, and with
``box`` any corrupt file, is reported by the worker as with ``data.decode=full``.

torchvision deprecates ``torchvision.io``'s decoders from 0.29 in favour of TorchCodec; 0.29 still ships them.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace

import torch
import torchvision
from PIL import Image
from torchvision.io import ImageReadMode
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from .data import CorruptImageError, check_on_corrupt
from .random_crop import RandomResizedCrop, draw_flip

__all__ = ["ON_DEVICE", "Encoded", "EncodedBatch", "EncodedCrop", "decode_jpegs", "resample_weights"]

log = logging.getLogger(__name__)

ON_DEVICE = ("device", "box")  # the data.decode values whose batches the training process finishes (EncodedBatch)

_MAX_PADDED = 2 ** 27  # float elements of one zero-padded chunk of images (512 MB)


@dataclass
class Encoded:
    """One sample as a worker ships it: the file's bytes (``data``) or decoded ``pixels`` (3 x H x W uint8), the
    crop box ``(top, left, height, width)`` in the file's image or in ``pixels`` (which ``EncodedCrop`` cuts to the
    box), the flip, the output size and interpolation, and the file (for error messages)."""
    data: torch.Tensor | None
    pixels: torch.Tensor | None
    box: tuple[int, int, int, int]
    flip: bool
    size: tuple[int, int]
    interpolation: InterpolationMode
    path: str

    @staticmethod
    def collate(batch: list[tuple]) -> tuple:
        """``(EncodedBatch, targets, keys, skipped)`` from ``(Encoded, target, key, skipped)`` samples of one step
        (``engine.data.collate_samples`` asks the sample type how it batches)."""
        samples = [item[0] for item in batch]
        if len({(s.size, s.interpolation) for s in samples}) != 1:
            raise ValueError("one batch must share its output size and interpolation (one curriculum step)")
        rest = [torch.as_tensor([item[k] for item in batch]) for k in (1, 2, 3)]
        return (EncodedBatch(samples), *rest)


class EncodedCrop(RandomResizedCrop):
    """``engine.random_crop``'s ``RandomResizedCrop(size, scale, ratio, interpolation)`` and
    ``RandomHorizontalFlip(flip_p)``, drawn in a worker and carried out on the device (module docstring).
    ``decode="device"``: a JPEG file nvJPEG can decode travels as its bytes; ``"box"``: every image is decoded here
    (Pillow) and only its crop box travels."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BICUBIC, flip_p: float = 0.5, decode: str = "device"):
        super().__init__(size, scale, ratio, interpolation)
        if interpolation not in _KERNELS:
            raise ValueError(f"EncodedCrop supports {sorted(m.value for m in _KERNELS)} interpolation, "
                             f"got {interpolation}")
        if decode not in ON_DEVICE:
            raise ValueError(f"EncodedCrop decodes on the 'device' or cuts the 'box' in the worker, got {decode!r}")
        self.flip_p, self.where = flip_p, decode

    def decode(self, image: Image.Image) -> Encoded:
        """Draw the box and the flip from ``image``'s header; keep the file's bytes when nvJPEG is to decode it,
        else decode it and keep the box's pixels (the box then starts at 0, 0)."""
        top, left, height, width = box = tuple(self.get_params(image, self.scale, self.ratio))
        flip = draw_flip(self.flip_p)
        path = getattr(image, "filename", "") or "<in memory>"
        opened = getattr(image, "fp", None)  # the file Image.open read the header from; None once decoded
        if (self.where == "device" and image.format == "JPEG" and image.mode == "RGB"
                and "progression" not in image.info and opened is not None):
            opened.seek(0)
            data = torch.frombuffer(bytearray(opened.read()), dtype=torch.uint8)
            return Encoded(data, None, box, flip, tuple(self.size), self.interpolation, path)
        image.load()
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        pixels = F.pil_to_tensor(rgb.crop((left, top, left + width, top + height)))
        return Encoded(None, pixels, (0, 0, height, width), flip, tuple(self.size), self.interpolation, path)

    def forward(self, image: Image.Image | Encoded) -> Encoded:
        return image if isinstance(image, Encoded) else self.decode(image)


_DECODE_STREAMS: dict[torch.device, torch.cuda.Stream] = {}


def decode_jpegs(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """RGB ``uint8`` images of the JPEG files ``data`` (bytes as 1-D ``uint8`` tensors), decoded on ``device``
    as one batch (nvJPEG on a CUDA device), ready for use on its current stream.

    On CUDA the decode runs with a stream of its own current. torchvision allocates the outputs while the caller's
    stream is current and nvJPEG writes them from a stream that does not wait for it, so a block freed by the
    training step while its kernels are still queued can be overwritten before they read it (pytorch/vision PR
    #9606; here, on an H200, MAE's masking gather read indices out of range). Blocks of the decode stream's own
    pool are never in the training stream's use; the images are handed over with ``wait_stream`` and
    ``record_stream``, so their blocks return to the decode stream only after the training stream is done. torch
    hands out its streams from a pool of 32, so the decode stream may also be another thread's: it is
    synchronised first, leaving no queued work that could still read a block nvJPEG is handed."""
    device = torch.device(device)
    if device.type != "cuda":
        return torchvision.io.decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    current = torch.cuda.current_stream(device)
    stream = _DECODE_STREAMS.get(device)
    if stream is None:
        stream = _DECODE_STREAMS[device] = torch.cuda.Stream(device)
    stream.synchronize()
    with torch.cuda.stream(stream):
        images = torchvision.io.decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    current.wait_stream(stream)
    for image in images:
        image.record_stream(current)
    return images


def _bicubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return torch.where(x < 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


# Pillow's resampling filters (``libImaging/Resample.c``) of |x|: bicubic with a = -0.5, Lanczos-3, triangle
_KERNELS = {InterpolationMode.BICUBIC: _bicubic,
            InterpolationMode.LANCZOS: lambda x: torch.where(x < 3, torch.sinc(x) * torch.sinc(x / 3),
                                                             torch.zeros_like(x)),
            InterpolationMode.BILINEAR: lambda x: (1 - x).clamp(min=0)}


def resample_weights(length: torch.Tensor, out: int, span: int, interpolation: InterpolationMode,
                     start: torch.Tensor | None = None) -> torch.Tensor:
    """Pillow's weights for resampling ``length`` pixels from ``start`` on (one each per batch element; ``start``
    0 if not given) to ``out``, as an ``N x out x span`` matrix over the ``span`` input pixels (those outside get
    none). ``Resample.c``'s ``precompute_coeffs``: output pixel ``i`` centres at ``(i + 0.5) * scale`` and weighs
    input pixel ``x`` (counted from ``start``) by ``kernel((x + 0.5 - centre) / max(scale, 1))``, normalised to sum
    1 over the input, which for a RandomResizedCrop is the cropped box alone (torchvision crops, then resizes)."""
    scale = (length / out).unsqueeze(1)  # N x 1
    device = length.device
    centre = (torch.arange(out, device=device) + 0.5) * scale  # N x out
    x = torch.arange(span, device=device).expand(len(length), span)
    if start is not None:
        x = x - start.unsqueeze(1)
    x = x.unsqueeze(1)  # N x 1 x span
    weights = _KERNELS[interpolation](((x + 0.5 - centre.unsqueeze(2)) / scale.clamp(min=1.0).unsqueeze(2)).abs())
    weights = weights * ((x >= 0) & (x < length.view(-1, 1, 1)))
    return weights / weights.sum(2, keepdim=True)


@dataclass
class EncodedBatch:
    """A collated batch of ``Encoded`` samples of one step (one output size and interpolation, ``Encoded.collate``).
    ``packed``: after crossing from a worker, every sample's bytes or pixels in one tensor (``__reduce__``).
    ``replaced``: after ``decode(..., on_corrupt="skip")``, ``(index, replacement)`` for each corrupt file."""
    samples: list[Encoded]
    packed: torch.Tensor | None = None
    replaced: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def size(self) -> tuple[int, int]:
        return self.samples[0].size

    @property
    def interpolation(self) -> InterpolationMode:
        return self.samples[0].interpolation

    def __reduce__(self):
        """Between processes the files' bytes and the decoded boxes travel as one tensor: one shared-memory block a
        batch, not one a sample as torch sends a list of tensors, written once (in a worker, straight into shared
        memory). A batch of 256 files from 2 workers takes 13 ms instead of 120 on a 2-core CPU
        (``benchmarks/loader_costs.py``, transport), where the nvJPEG decode of it takes 15-25 ms on an H200."""
        lengths, shapes = _layout(self.samples)
        if torch.utils.data.get_worker_info() is not None:  # as default_collate: written once, into the shared block
            packed = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(sum(lengths)))
        else:
            packed = torch.empty(sum(lengths), dtype=torch.uint8)
        for sample, part, shape in zip(self.samples, packed.split(lengths), shapes):
            if shape is None:
                part.copy_(sample.data)
            else:  # in the order Pillow holds them (pil_to_tensor's CHW is a view of HWC): a plain copy
                _channels_last(part, shape).copy_(sample.pixels)
        return _views, (packed, lengths, shapes, [replace(s, data=None, pixels=None) for s in self.samples])

    def pin_memory(self) -> EncodedBatch:
        """The loader's pin-memory thread calls this: a packed batch of decoded boxes (``decode="box"``) is copied
        to page-locked memory there, so that it reaches the GPU in one asynchronous copy."""
        if self.packed is None or any(s.pixels is None for s in self.samples):
            return self
        return _views(self.packed.pin_memory(), *_layout(self.samples), self.samples)

    def decode(self, device: torch.device, on_corrupt: str = "error") -> torch.Tensor:
        """``N x 3 x size`` uint8 on ``device``: decoded, cropped, resampled and flipped as the CPU loader does. A
        corrupt file raises ``CorruptImageError`` naming it, or with ``on_corrupt="skip"`` takes the next readable
        sample's place (recorded in ``replaced``)."""
        check_on_corrupt(on_corrupt)
        return self.crop(self._pixels(device, on_corrupt))

    def crop(self, images: list[torch.Tensor]) -> torch.Tensor:
        """``decode``'s crop, resampling and flip of the decoded ``images`` (one ``3 x H x W`` uint8 a sample)."""
        device = images[0].device
        order = sorted(range(len(images)), key=lambda k: tuple(images[k].shape))  # like shapes pad least together
        # one transfer for the batch: each sample's box, flip and place in the output, in that order
        params = torch.tensor([[*self.samples[k].box, self.samples[k].flip, k] for k in order])
        params = params.to(device, non_blocking=True)
        out = torch.empty(len(images), 3, *self.size, dtype=torch.uint8, device=device)
        for start, end in _chunks([images[k].shape for k in order]):  # some photos are thousands of px
            out[params[start:end, 5]] = self._crop([images[k] for k in order[start:end]], params[start:end])
        return out

    def _pixels(self, device: torch.device, on_corrupt: str = "error") -> list[torch.Tensor]:
        if self.packed is not None and all(s.pixels is not None for s in self.samples):  # decode="box": one copy
            sent = _views(self.packed.to(device, non_blocking=True), *_layout(self.samples), self.samples)
            return [s.pixels for s in sent.samples]
        encoded = [i for i, s in enumerate(self.samples) if s.data is not None]
        images: list[torch.Tensor | None] = [None if s.data is not None else s.pixels.to(device, non_blocking=True)
                                             for s in self.samples]
        if encoded:
            data = [self.samples[i].data for i in encoded]
            try:
                decoded = decode_jpegs(data, device)
            except RuntimeError:  # one at a time: names the corrupt file
                decoded = [self._decode_one(self.samples[i], device, on_corrupt) for i in encoded]
            for i, image in zip(encoded, decoded):
                images[i] = image
            self._replace_corrupt(images)
        return images

    def _replace_corrupt(self, images: list[torch.Tensor | None]) -> None:
        """Each sample whose file did not decode (None) takes the place of the next readable one in the batch."""
        corrupt = [i for i, image in enumerate(images) if image is None]
        if len(corrupt) == len(images):
            raise CorruptImageError(self.samples[0].path, "no file of this batch could be decoded, none can "
                                                          "replace the others")
        for i in corrupt:
            j = next(k % len(images) for k in range(i + 1, i + len(images)) if images[k % len(images)] is not None)
            images[i], self.samples[i] = images[j], self.samples[j]
            self.replaced.append((i, j))

    @staticmethod
    def _decode_one(sample: Encoded, device: torch.device, on_corrupt: str) -> torch.Tensor | None:
        try:
            return decode_jpegs([sample.data], device)[0]
        except RuntimeError as err:
            corrupt = CorruptImageError(sample.path, str(err))
            if on_corrupt == "error":
                raise corrupt from err
            log.warning("skipping %s", corrupt)
            return None

    def _crop(self, images: list[torch.Tensor], params: torch.Tensor) -> torch.Tensor:
        """The boxes of ``images`` resampled to ``size`` and flipped (``params``: top, left, height, width, flip per
        image): the images zero-padded into one batch, then two batched products with weights that are zero outside
        each box, across then down, rounded to 8 bits in between as Pillow does (its kernels overshoot at sharp
        edges)."""
        out_h, out_w = self.size
        window = self.pad(images).float()
        top, left, height, width, flip = params[:, :5].float().unbind(1)
        rows = resample_weights(height, out_h, window.shape[2], self.interpolation, start=top)
        cols = resample_weights(width, out_w, window.shape[3], self.interpolation, start=left)
        cols = torch.where(flip.bool().view(-1, 1, 1), cols.flip(1), cols)
        across = (window @ cols.transpose(1, 2).unsqueeze(1)).round_().clamp_(0, 255)  # Pillow's 8-bit intermediate
        return (rows.unsqueeze(1) @ across).round_().clamp_(0, 255).to(torch.uint8)

    @staticmethod
    def pad(images: list[torch.Tensor]) -> torch.Tensor:
        """``images`` (``3 x H x W``, any sizes) as one batch, zero-padded at the bottom and right to the largest: one
        copy for each run of equal shapes (a photo collection has few sizes; ``crop`` sorts by shape), where a copy
        per image would cost the decoding thread a kernel launch and Python's indexing each."""
        height, width = max(i.shape[1] for i in images), max(i.shape[2] for i in images)
        window = images[0].new_zeros(len(images), 3, height, width)
        start = 0
        for (_, h, w), run in itertools.groupby(images, key=lambda i: i.shape):
            run = list(run)
            window[start:start + len(run), :, :h, :w] = torch.stack(run) if len(run) > 1 else run[0]
            start += len(run)
        return window


def _chunks(shapes: list[torch.Size]) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` ranges of images of ``shapes`` whose zero-padded float batch stays within
    ``_MAX_PADDED`` elements (at least one image a range)."""
    ranges, start = [], 0
    while start < len(shapes):
        end, (_, h, w) = start + 1, shapes[start]
        while end < len(shapes):
            h2, w2 = max(h, shapes[end][1]), max(w, shapes[end][2])
            if (end + 1 - start) * 3 * h2 * w2 > _MAX_PADDED:
                break
            end, h, w = end + 1, h2, w2
        ranges.append((start, end))
        start = end
    return ranges


def _layout(samples: list[Encoded]) -> tuple[list[int], list[tuple[int, ...] | None]]:
    """Per sample, the length of its part of a packed batch (bytes or pixels) and its pixels' shape (None: bytes)."""
    return ([s.data.numel() if s.data is not None else s.pixels.numel() for s in samples],
            [None if s.data is not None else tuple(s.pixels.shape) for s in samples])


def _views(packed: torch.Tensor, lengths: list[int], shapes: list, samples: list[Encoded]) -> EncodedBatch:
    """``samples`` with their bytes or pixels as views of ``packed`` (``EncodedBatch.__reduce__``' inverse)."""
    parts = packed.split(lengths)
    return EncodedBatch([replace(s, data=part, pixels=None) if shape is None else
                         replace(s, data=None, pixels=_channels_last(part, shape))
                         for s, part, shape in zip(samples, parts, shapes)], packed)


def _channels_last(part: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """The bytes ``part`` as a ``3 x H x W`` (``shape``) image stored H x W x 3, as Pillow stores it: the packed
    batch keeps that order, which a worker copies fast (reordering to channels first took it 0.4 ms a 224 px box on
    a 2-core CPU); the device reorders the pixels when it pads them into one batch."""
    channels, height, width = shape
    return part.view(height, width, channels).permute(2, 0, 1)
