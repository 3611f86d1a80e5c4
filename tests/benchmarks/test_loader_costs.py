"""The loader-cost benchmark's report (structure, and its decode and crop matching the trainer's), never timings."""
import json

import torch

from benchmarks.loader_costs import interpolation, main
from benchmarks.make_jpeg_folder import build
from pretrain_mae.data import train_transform
from tests.conftest import generated_photos


def test_crop_interpolation_is_the_trainers():
    for size in (96, 160, 224):
        crop = train_transform(224, 0.2, size=size, low_frequency="resize").transforms[0]
        assert interpolation(size, 224) == crop.interpolation


def test_report(tmp_path):
    data = tmp_path / "jpegs"
    build(generated_photos()[0].parent, data, images=12, classes=2)
    out = tmp_path / "costs.json"
    main(["--data", str(data), "--json", str(out), "--sizes", "32", "48", "--final-size", "48", "--images", "6",
          "--batch", "4", "--workers", "0", "1", "--steps", "2", "--warmup", "1", "--decode-device", "cpu", "--decode-batch", "4",
          "--repeats", "1"])
    report = json.loads(out.read_text())
    stages = report["worker_ms_per_image"]
    assert set(stages) == {"read", "decode", "crop_32", "crop_48", "tensor_32", "tensor_48", "whole_sample_fft",
                           "whole_sample_device", "whole_sample_box"}
    assert all(ms > 0 for ms in stages.values())
    assert [r["workers"] for r in report["loader_scaling"]] == [0, 1]
    assert all(r["images_per_s"] > 0 for r in report["loader_scaling"])
    transport = report["transport"]
    assert transport["batch"] == 4 and transport["workers"] == 1
    assert transport["one_tensor_ms"] > 0 and transport["per_sample_ms"] > 0 and transport["box_ms"] > 0
    whole = 4 * 3 * 500 * 375 / 2 ** 20  # four 500 x 375 photos; a box covers 0.2-1 of one (data.min_scale)
    assert 0.2 * whole <= transport["box_megabytes"] <= whole
    decode = report["batched_decode"]
    assert decode["batch"] == 4 and set(decode["decode_crop_images_per_s"]) == {"32", "48"}
    # torchvision's libjpeg-turbo decode and Pillow's give the same pixels on the CPU (measured 0.00)
    assert decode["max_mean_abs_diff_to_pillow"] < 0.5
    assert set(decode["decode_crop_tf32_images_per_s"]) == {"32", "48"}
    # the same crops compared: a CPU has no TF32, so the setting cannot change a pixel there
    tf32 = decode["tf32_crop_vs_float32"]
    assert tf32["share_differing"] == 0.0 and tf32["max_abs_diff"] == 0, tf32
    assert torch.get_float32_matmul_precision() == "highest"  # restored
    dispatch = report["crop_dispatch"]
    assert dispatch["batch"] == 4 and 1 <= dispatch["distinct_sizes"] <= 4
    assert dispatch["one_batch_ms"] > 0 and dispatch["per_image_ms"] > 0
