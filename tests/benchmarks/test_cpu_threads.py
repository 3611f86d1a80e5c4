"""The CPU-threads benchmark's summary: records grouped by input size, the first (worker start-up) left out."""
import json

import pytest
import torch

from benchmarks.cpu_threads import per_size


def test_per_size_means_leave_out_the_first_record(tmp_path):
    rows = [(24, 99.0, 10, 0.9), (24, 8.0, 375, 0.2), (24, 6.0, 500, 0.4), (48, 12.0, 250, 0.01)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(
        json.dumps({"size": s, "epoch_time_s": t, "images_per_s": r, "data_wait_share": w}) for s, t, r, w in rows))
    summary = per_size(tmp_path)
    assert list(summary) == [24, 48]
    assert summary[24]["epoch_time_s"] == pytest.approx(7.0) and summary[24]["images_per_s"] == pytest.approx(437.5)
    assert summary[24]["data_wait_share"] == pytest.approx(0.3) and summary[48]["epoch_time_s"] == 12.0


def test_both_core_splits_run_and_are_reported(tmp_path, monkeypatch, capsys):
    """The script end to end on generated images: both splits train the same ET++ run of the named model, the
    second with torch on the cores the loader worker leaves; torch's threads are given back afterwards."""
    import os

    from benchmarks.cpu_threads import main
    from curriculum import make_preset
    from tools.sample_data import class_folders

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # restored (absent) after the test: the script sets it
    monkeypatch.delenv("OMP_NUM_THREADS")
    data = class_folders(tmp_path / "data", classes=20, train_per_class=8, val_per_class=2)
    threads = torch.get_num_threads()
    report = main(["--data", str(data), "--json", str(tmp_path / "threads.json"), "--out", str(tmp_path / "runs"),
                   "--epochs", "3", "--images-per-class", "8", "--batch-size", "16", "--workers", "1",
                   "--model", "resnet10t", "--final-size", "32"])
    out = capsys.readouterr().out
    cores = os.cpu_count() or 1
    if cores > 1:  # only the second run splits the cores, and says so
        assert out.count(f"CPU: {cores - 1} torch thread(s), 1 loader worker(s) at nice +19 on {cores} cores") == 1
    assert json.loads((tmp_path / "threads.json").read_text())["per_size"] == report["per_size"]
    assert (report["model"], report["schedule"]["family"]) == ("resnet10t", "resnet")
    sizes = {str(stage.size) for stage in make_preset("efficienttrain++", 2, 32, family="resnet").stages}
    for name in ("every_core", "cores_left_by_workers"):
        assert set(report["per_size"][name]) <= sizes and "32" in report["per_size"][name]
    trained = [[json.loads(line)["trained_images"] for line in (tmp_path / "runs" / name / "metrics.jsonl")
                .read_text().splitlines()] for name in ("every_core", "cores_left_by_workers")]
    assert trained[0] == trained[1] and sum(trained[0]) > 0  # the same steps and samples both times
    every, left = report["totals"]["every_core"], report["totals"]["cores_left_by_workers"]
    assert f"whole run: {every['train_time_s']:.0f} s -> {left['train_time_s']:.0f} s" in out
    assert torch.get_num_threads() == threads


def test_an_unknown_model_ends_in_one_line(tmp_path, capsys):
    from benchmarks.cpu_threads import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path), "--json", str(tmp_path / "t.json"), "--model", "nosuchnet"])
    assert exit_info.value.code == 2 and "--model 'nosuchnet' is neither a timm model" in capsys.readouterr().err
