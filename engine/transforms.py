"""Where the curriculum's low-frequency step sits in a loader transform (``schedule.low_frequency``).

* ``fft``: nothing in the loader; the trainer crops the batch on the device (``curriculum.low_frequency_crop``).
* ``fft-loader``: ``curriculum.LowFrequencyCrop(B)`` per image right after ``Normalize`` (before random erasing).
* ``resize``: PIL ``Resize(B, LANCZOS)`` right before the image becomes a tensor, i.e. after RandAugment, as the
  EfficientTrain++ release inserts it (LeapLabTHU/EfficientTrain ``datasets_buffer.py: build_transform``).
"""
from __future__ import annotations

from torchvision import transforms

from curriculum import LowFrequencyCrop

__all__ = ["with_low_frequency", "LOW_FREQUENCY_MODES"]

LOW_FREQUENCY_MODES = ("fft", "fft-loader", "resize")
_TO_TENSOR = ("ToTensor", "MaybeToTensor", "PILToTensor", "MaybePILToTensor")


def _index(steps: list, names: tuple[str, ...], what: str) -> int:
    for i, step in enumerate(steps):
        if type(step).__name__ in names:
            return i
    raise ValueError(f"the transform has no {what} step to place the low-frequency step by: {steps}")


def with_low_frequency(transform: transforms.Compose, size: int, final_size: int, how: str) -> transforms.Compose:
    """``transform`` (producing ``final_size`` images) with the loader-side low-frequency step for size ``size``."""
    if how not in LOW_FREQUENCY_MODES:
        raise ValueError(f"low_frequency must be one of {LOW_FREQUENCY_MODES}, got {how!r}")
    if how == "fft" or size >= final_size:
        return transform
    steps = list(transform.transforms)
    if how == "resize":
        steps.insert(_index(steps, _TO_TENSOR, "ToTensor"),
                     transforms.Resize(size, interpolation=transforms.InterpolationMode.LANCZOS))
    else:
        steps.insert(_index(steps, ("Normalize",), "Normalize") + 1, LowFrequencyCrop(size))
    return transforms.Compose(steps)
