"""The reduced-decode benchmark's report (structure, and the share of crops per libjpeg scale), never its timings."""
import json
import statistics

import pytest

from benchmarks.make_jpeg_folder import build
from benchmarks.reduced_decode import main, scale_shares
from tests.conftest import generated_photos


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    data = tmp_path_factory.mktemp("jpegs")
    build(generated_photos()[0].parent, data, images=16, classes=2)
    return data


def test_scale_shares_follow_the_box_geometry(jpegs):
    paths = sorted(str(p) for p in (jpegs / "train").rglob("*.JPEG"))
    assert len(paths) == 16
    # 500x375 images: no box is 448 px tall, so a 224 crop is always decoded in full
    assert scale_shares(paths, 224, 0.2) == {"1": 1.0, "2": 0.0, "4": 0.0, "8": 0.0}
    # a 48 px crop: every box (at least sqrt(0.2 * 500 * 375 * 3 / 4) = 168 px on each side) allows 1/2 or finer
    shares = scale_shares(paths, 48, 0.2)
    assert shares["1"] == 0.0 and shares["2"] > 0 and shares["4"] > 0 and sum(shares.values()) == pytest.approx(1)
    assert scale_shares(paths, 48, 0.2) == shares  # drawn from its own seed: repeatable
    with pytest.raises(ValueError, match="no images"):
        scale_shares([], 48, 0.2)


def test_report_structure(jpegs, tmp_path):
    out = tmp_path / "report.json"
    main(["--data", str(jpegs), "--json", str(out), "--sizes", "16", "--final-size", "32", "--batch", "4",
          "--workers", "0", "--steps", "2", "--warmup", "1", "--repeats", "1", "--images", "4"])
    report = json.loads(out.read_text())
    assert [(r["low_frequency"], r["size"]) for r in report["rows"]] == [("resize", 16), ("fft", 32)]
    for row in report["rows"]:
        assert row["full_images_per_s"] > 0 and row["reduced_images_per_s"] > 0
        runs = row["runs"]  # the repeats themselves: medians and their ratio recomputed from them
        assert len(runs["full"]) == len(runs["reduced"]) == 1
        assert (row["full_images_per_s"], row["reduced_images_per_s"]) == (runs["full"][0], runs["reduced"][0])
        assert row["speedup"] == pytest.approx(statistics.median(runs["reduced"]) / statistics.median(runs["full"]))
        assert row["worker_speedup"] == pytest.approx(row["full_ms_per_image"] / row["reduced_ms_per_image"])
    assert report["rows"][0]["dct_scale_share"]["1"] == 0.0  # 16 px crops of 500x375 photos: always reduced
    for key in ("device", "commit", "command"):
        assert key in report
