"""The supervised cost benchmark: its stage list, and the whole script on generated JPEGs with two arms."""
import json
from pathlib import Path

import pytest

from benchmarks.supervised_costs import arm_by_commit, main, parse_arm, stages
from tools.sample_data import class_folders

REPO = Path(__file__).resolve().parents[2]


def test_stages_are_the_a_schedules_sizes_with_their_magnitudes():
    """(a) at 64 px: the baseline's 64 px first, then efficienttrain's 55 / 46 and efficienttrain++'s 27 px, each
    with the RandAugment magnitude at the middle of its first stage."""
    found = stages("resnet10t", 64, 10)
    assert [size for size, _ in found] == [64, 55, 46, 27]
    assert dict(found)[64] == 9.0 and dict(found)[27] < dict(found)[46] < 9.0


def test_two_arms_on_generated_jpegs(tmp_path, capsys):
    data = class_folders(tmp_path / "data", classes=4, train_per_class=12, val_per_class=2)
    report = main(["--data", str(data), "--json", str(tmp_path / "costs.json"), "--final-size", "32",
                   "--epochs", "3", "--batch-size", "8", "--images", "24", "--loader-images", "6", "--rounds", "1",
                   "--model-steps", "1", "--arm", f"one={REPO},data.num_workers=0",
                   "--arm", f"two={REPO},data.num_workers=1,OMP_NUM_THREADS=1,data.decode=reduced,data.cache_scale=1"])
    assert json.loads((tmp_path / "costs.json").read_text()) == report
    rows = report["stages"]
    assert rows[0]["size"] == 32 and rows[0]["model_share_of_pixel_rate"] == 1.0
    for row in rows:
        assert row["pixels_vs_final"] == pytest.approx((32 / row["size"]) ** 2, abs=1e-3)
        for arm in ("one", "two"):
            assert row[arm]["loader_worker_ms"] > 0 and row[arm]["trainer_images_per_s"] > 0
            assert len(row[arm]["trainer_images_per_s_rounds"]) == 1
        assert row["one"]["trainer_share_of_pixel_rate"] == pytest.approx(
            row["one"]["trainer_images_per_s"] / rows[0]["one"]["trainer_images_per_s"] / row["pixels_vs_final"],
            rel=1e-2)
        crop = row["crop_ms_per_image"]  # the batch's low-frequency crop, both ways, below the final size only
        assert (set(crop) == {"fft", "matrix"} and min(crop.values()) > 0) if row["size"] < 32 else crop == {}
        device = row["loader_variants_ms"]["full, RandAugment on the device"]
        assert device["training_process"] > 0  # the batched RandAugment's own cost is measured
        assert row["loader_variants_ms"]["full, RandAugment on the loader"]["training_process"] == 0
    assert report["arms"]["two"]["settings"] == {"data.num_workers": "1", "OMP_NUM_THREADS": "1",
                                                 "data.decode": "reduced", "data.cache_scale": "1"}
    for row in rows:  # the sample read from the decoded cache is timed too (its speed is the benchmark's to say)
        cached = row["loader_variants_ms"]["reduced from the decoded cache at 1/2, RandAugment on the loader"]
        assert cached["worker"] > 0 and cached["training_process"] == 0
    assert str(REPO) not in report["command"] and "--arm two=<checkout of " in report["command"]
    assert "| 32 |" in capsys.readouterr().out


def test_a_malformed_arm_is_refused(tmp_path):
    with pytest.raises(ValueError, match="NAME=CHECKOUT"):
        parse_arm("before")
    with pytest.raises(FileNotFoundError, match="not a checkout"):
        parse_arm(f"before={tmp_path}")


def test_an_arm_is_recorded_with_its_commit_and_its_settings_intact():
    assert arm_by_commit("after=.,data.decode=reduced,OMP_NUM_THREADS=2", "abc1234") == \
        "after=<checkout of abc1234>,data.decode=reduced,OMP_NUM_THREADS=2"
    assert arm_by_commit("before=/tmp/x.y", "abc1234") == "before=<checkout of abc1234>"
