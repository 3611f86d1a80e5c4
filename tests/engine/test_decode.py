"""Reduced-scale JPEG decoding (``engine.decode``): the same crop boxes as timm's draw, torchvision's pixels where
no reduction applies, and, where libjpeg decodes at 1/2-1/8 scale, pixels within a stated tolerance
of the full decode (on real photographs); corrupt files are still reported through the datasets."""
import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from engine.data import CorruptImageError, CurriculumSamples, ImageFolderDataset
from engine.decode import RandomResizedCropDecode
from curriculum import Schedule, Stage, StepPlan
from pretrain_mae.data import train_transform
from tests.conftest import generated_photos, real_dataset

LANCZOS, BICUBIC = InterpolationMode.LANCZOS, InterpolationMode.BICUBIC


def photos(count=6):
    return generated_photos()[:count]


def real_photos(count=6):
    return sorted((real_dataset("coco-mini") / "train2017").glob("*.jpg"))[:count]


def both(path, size, interpolation, seed, full_input=False):
    """(reduced-path output, its DecodedCrop, torchvision's crop of timm's box, the box) under the same random
    numbers."""
    fast = RandomResizedCropDecode(size, scale=(0.2, 1.0), interpolation=interpolation)
    random.seed(seed)
    with Image.open(path) as image:
        decoded = fast.decode(image.convert("RGB") if full_input else image)
    out = np.asarray(fast(decoded), dtype=np.float64)
    random.seed(seed)
    with Image.open(path) as image:
        box = RandomResizedCropAndInterpolation.get_params(image, (0.2, 1.0), (3 / 4, 4 / 3))
        plain = F.resized_crop(image.convert("RGB"), *box, [size, size], interpolation)
    return out, decoded, np.asarray(plain, dtype=np.float64), box


@pytest.mark.parametrize("size,expected", [((400, 300), 2), ((800, 800), 8), ((800, 400), 4), ((191, 500), 1),
                                           ((192, 192), 2), ((767, 768), 4)])
def test_the_coarsest_scale_that_keeps_the_box_at_least_the_output(size, expected):
    assert RandomResizedCropDecode(96).dct_scale(*size) == expected


def test_reduced_decoding_keeps_the_box_and_the_pixels_within_tolerance():
    """Real photographs: the tolerance is about the noise of JPEG re-encoding on camera images."""
    scales, checked = [], 0
    for path in real_photos():
        for seed in range(10):
            for size, interpolation in ((96, LANCZOS), (112, BICUBIC)):
                out, decoded, plain, (top, left, h, w) = both(path, size, interpolation, seed)
                scales.append(decoded.scale)
                s = decoded.scale
                assert decoded.box == pytest.approx((left / s, top / s, (left + w) / s, (top + h) / s))
                assert out.shape == plain.shape == (size, size, 3)
                if s == 1:  # no reduction: torchvision's pixels exactly
                    np.testing.assert_array_equal(out, plain)
                    continue
                assert decoded.image.width == -(-Image.open(path).width // s)  # libjpeg really decoded at 1/s
                # Tolerance (measured on these photos: mean |diff| 0.8-1.5 levels, at most 3.4; PSNR >= 34 dB;
                # channel means within 0.15 levels): about JPEG quality-90 re-encoding noise.
                diff = out - plain
                assert np.abs(diff).mean() < 4.0
                assert 10 * np.log10(255 ** 2 / (diff ** 2).mean()) > 32
                assert np.abs(diff.mean(axis=(0, 1))).max() < 0.5
                checked += 1
    assert {1, 2, 4} <= set(scales) and checked >= 30  # every reduction this photo size allows was exercised


def test_decoded_images_and_png_take_torchvision_path(tmp_path):
    path = photos(1)[0]
    for seed in range(4):  # an image already decoded cannot be drafted: full scale, torchvision's pixels
        out, decoded, plain, _ = both(path, 96, LANCZOS, seed, full_input=True)
        assert decoded.scale == 1
        np.testing.assert_array_equal(out, plain)
    png = tmp_path / "photo.png"
    Image.open(path).save(png)
    out, decoded, plain, _ = both(png, 64, BICUBIC, 0)
    assert decoded.scale == 1 and decoded.image.mode == "RGB"
    np.testing.assert_array_equal(out, plain)


@pytest.mark.parametrize("mode,options", [("L", {}), ("CMYK", {}), ("RGB", {"progressive": True})])
def test_grayscale_cmyk_and_progressive_jpegs_are_reduced_too(tmp_path, mode, options):
    path = tmp_path / "photo.jpg"
    Image.open(photos(1)[0]).convert(mode).save(path, quality=90, **options)
    out, decoded, plain, _ = both(path, 64, BICUBIC, 1)
    assert decoded.scale > 1 and decoded.image.mode == "RGB" and out.shape == plain.shape == (64, 64, 3)
    assert np.abs(out - plain).mean() < 4


def test_unsupported_interpolation_is_refused():
    with pytest.raises(ValueError, match="interpolation"):
        RandomResizedCropDecode(64, interpolation=InterpolationMode.NEAREST)


def photo_folder(root, count=8):
    for i, path in enumerate(photos(count)):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        (root / f"c{i % 2}" / path.name).symlink_to(path)
    return root


def curriculum_items(root, decode, size=96):
    dataset = ImageFolderDataset(root)
    plan = StepPlan(Schedule("probe", 1, (Stage(0.0, 1.0, size),)), len(dataset), len(dataset))
    samples = CurriculumSamples(dataset, 0, plan, lambda values: train_transform(224, 0.2, values.size, "resize",
                                                                                   decode))
    return [samples[(i, 0, 0)] for i in range(len(dataset))]


def test_the_curriculum_dataset_decodes_through_the_first_step(tmp_path):
    root = photo_folder(tmp_path / "train")
    full, reduced = curriculum_items(root, "full"), curriculum_items(root, "reduced")
    assert [item[1:] for item in full] == [item[1:] for item in reduced]  # targets, keys, skips
    diffs = [float((a[0].double() - b[0].double()).abs().mean()) for a, b in zip(full, reduced)]
    assert all(d < 4.0 for d in diffs)
    assert sum(d > 0 for d in diffs) >= 2  # the reduced decode really ran for the large boxes
    assert all(torch.equal(a[0], b[0]) for a, b in zip(reduced, curriculum_items(root, "reduced")))  # reproducible
    with pytest.raises(ValueError, match=r"data.decode must be one of \(.*\), got 'draft'"):
        train_transform(224, 0.2, 96, "resize", "draft")


def test_a_corrupt_jpeg_is_reported_or_skipped_on_the_reduced_path(tmp_path):
    root = photo_folder(tmp_path / "train", count=4)
    bad = root / "c0" / "truncated.jpg"
    bad.write_bytes(photos(1)[0].read_bytes()[:2000])
    crop = RandomResizedCropDecode(64, scale=(0.2, 1.0))
    dataset = ImageFolderDataset(root)
    index = [p for p, _ in dataset.samples].index(str(bad))
    with pytest.raises(CorruptImageError, match="truncated.jpg"):
        dataset.read(index, crop.decode)
    image, _, _, skipped = ImageFolderDataset(root, on_corrupt="skip").read(index, crop.decode)
    assert skipped == 1 and np.asarray(crop(image)).shape == (64, 64, 3)
