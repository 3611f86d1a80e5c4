"""Loader-side low-frequency steps: the FFT crop equals the device crop; Lanczos resizing is a different,
close low-pass image of the same crop."""
import numpy as np
import pytest
import torch
from PIL import Image

from curriculum import low_frequency_crop
from engine.transforms import with_low_frequency
from pretrain_mae.data import train_transform
from tests.conftest import shared_dataset


def photo():
    path = sorted((shared_dataset("tiny-imagenet-20") / "train").rglob("*.JPEG"))[7]
    return Image.open(path).convert("RGB")


def test_fft_loader_equals_device_crop_and_resize_is_close():
    image = photo()
    outputs = {}
    for mode in ("fft", "fft-loader", "resize"):
        torch.manual_seed(3)  # the same RandomResizedCrop and flip in every pipeline
        outputs[mode] = train_transform(64, 0.2, 32, mode)(image)
    device = low_frequency_crop(outputs["fft"][None], 32)[0]
    torch.testing.assert_close(outputs["fft-loader"], device, rtol=1e-5, atol=1e-5)
    difference = (outputs["resize"] - device).abs().mean() / device.abs().mean()
    assert outputs["resize"].shape == (3, 32, 32) and 0.001 < difference < 0.25, float(difference)


def test_unknown_mode_and_untouched_final_size():
    transform = train_transform(64, 0.2)
    assert with_low_frequency(transform, 64, 64, "resize") is transform
    with pytest.raises(ValueError, match="low_frequency must be one of"):
        with_low_frequency(transform, 32, 64, "bilinear")
