"""The throughput benchmark's report (structure and its use of the cost model), never its timings."""
import gzip
import json
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.make_jpeg_folder import build
from benchmarks.pretrain_speed import busy_share, main
from curriculum import ScheduleConfig, build_schedule
from pretrain_mae.model import MAE_PRESETS
from tests.conftest import generated_photos, mae_vit_macs, schedule_speedup


def test_jpeg_folder_holds_distinct_imagenet_like_photos(tmp_path):
    paths = build(generated_photos()[0].parent, tmp_path, images=12, classes=3)
    assert len({p.read_bytes() for p in paths}) == 12 and len(list((tmp_path / "train").iterdir())) == 3
    with Image.open(paths[0]) as image:
        assert image.format == "JPEG" and image.size == (500, 375)


def test_jpeg_folder_is_the_same_whatever_encodes_it(tmp_path):
    serial = build(generated_photos()[0].parent, tmp_path / "serial", images=6, classes=2)
    parallel = build(generated_photos()[0].parent, tmp_path / "parallel", images=6, classes=2, workers=2)
    assert [p.relative_to(tmp_path / "serial") for p in serial] == [p.relative_to(tmp_path / "parallel")
                                                                    for p in parallel]
    assert [p.read_bytes() for p in serial] == [p.read_bytes() for p in parallel]


def test_report_structure_and_cost_model(tmp_path):
    data = tmp_path / "jpegs"
    build(generated_photos()[0].parent, data, images=16, classes=2)
    out = tmp_path / "report.json"
    main(["--data", str(data), "--json", str(out), "--final-size", "32", "--batch", "4", "--workers", "0",
          "--steps", "2", "--warmup", "1", "--epochs", "30", "--plot", str(tmp_path / "p.png")])
    report = json.loads(out.read_text())
    for key in ("device", "model", "data", "measured_speedup", "model_speedup", "commit", "command"):
        assert key in report
    assert [s["size"] for s in report["sizes"]] == [16, 32]
    for stage in report["stages"]:
        for key in ("size", "loader_images_per_s", "model_images_per_s", "end_to_end_images_per_s"):
            assert stage[key] > 0
        assert 0 <= stage["data_wait_share"] < 1
        assert stage["end_to_end_over_model"] == pytest.approx(stage["end_to_end_images_per_s"]
                                                               / stage["model_images_per_s"])
    schedule = build_schedule(ScheduleConfig("efficienttrain", 30, 32), 16, None)
    tiny = MAE_PRESETS["mae_vit_tiny"]
    macs = lambda size: mae_vit_macs(size, 16, tiny.depth, tiny.embed_dim, tiny.decoder_depth,  # noqa: E731
                                     tiny.decoder_embed_dim, 0.75)
    assert [s.size for s in schedule.stages] == [16, 32, 32]  # 22.9 and 27.4 px rounded to the patch
    assert report["model_speedup"] == pytest.approx(schedule_speedup(schedule, macs, 30), rel=1e-9)
    assert report["schedules"]["baseline"]["measured_speedup"] == 1.0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_device_decode_and_compiled_blocks_are_what_runs(tmp_path, monkeypatch):
    """``--decode device --compile blocks``: the trainer's decode-ahead loader and the blocks compiled, one graph
    per stage size for the encoder's blocks and one for the decoder's (the eager backend keeps it fast)."""
    import torch
    from torch._dynamo.utils import counters
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compile_(model, backend="eager", **kw))
    torch._dynamo.reset()
    counters.clear()
    data = tmp_path / "jpegs"
    build(generated_photos()[0].parent, data, images=16, classes=2)
    report = main(["--data", str(data), "--final-size", "32", "--batch", "4", "--workers", "1", "--steps", "2",
                   "--warmup", "1", "--epochs", "30", "--low-frequency", "resize", "--decode", "device",
                   "--compile", "blocks"])
    assert report["decode"] == "device" and report["compile"] == "blocks"
    assert all(s["end_to_end_images_per_s"] > 0 for s in report["sizes"])
    assert counters["stats"]["unique_graphs"] == 2 * len(report["sizes"])


def test_busy_share_counts_overlapping_kernels_once():
    assert busy_share([(20, 30), (0, 10), (5, 15)], 0, 40) == pytest.approx(25 / 40)
    assert busy_share([(0, 10), (2, 4)], 0, 10) == 1.0  # a kernel inside another adds nothing
    assert busy_share([(-5, 5), (35, 50)], 0, 40) == pytest.approx(10 / 40)  # clipped to the window
    assert busy_share([], 0, 40) == 0.0


def test_profiled_steps_leave_a_trace_per_size(tmp_path):
    main(["--final-size", "32", "--batch", "4", "--workers", "0", "--steps", "1", "--warmup", "1", "--epochs", "30",
          "--presets", "efficienttrain", "--profile-dir", str(tmp_path / "traces"), "--profile-steps", "2",
          "--json", str(tmp_path / "report.json")])
    report = json.loads((tmp_path / "report.json").read_text())
    for stage in report["sizes"]:
        trace = json.loads(gzip.decompress(Path(stage["trace"]).read_bytes()))
        assert Path(stage["trace"]).parent == tmp_path / "traces"
        assert any(e.get("name", "").startswith("aten::") for e in trace["traceEvents"])  # the steps' ops
        assert stage["device_busy_share"] is None  # no kernels on a CPU


def test_fold_measures_the_smaller_sizes_on_larger_batches(tmp_path):
    main(["--final-size", "32", "--batch", "4", "--workers", "0", "--steps", "1", "--warmup", "1", "--epochs", "30",
          "--presets", "efficienttrain", "--fold", "2", "--json", str(tmp_path / "report.json")])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["fold"] == 2 and [(s["size"], s["batch"]) for s in report["sizes"]] == [(16, 8), (32, 4)]


@pytest.mark.parametrize("args,message", [(["--profile-steps", "2"], "--profile-steps needs --profile-dir"),
                                          (["--fold", "0"], "--fold must be >= 1, got 0")])
def test_options_that_would_do_nothing_are_refused(args, message, capsys):
    with pytest.raises(SystemExit):
        main(args)
    assert message in capsys.readouterr().err
