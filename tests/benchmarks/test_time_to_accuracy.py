"""The time-to-accuracy benchmark: its summary arithmetic on known curves, and the structure of a --quick report
(never its accuracies)."""
import json

import pytest

from benchmarks.time_to_accuracy import main, schedules, summarize, time_to
from tools.sample_data import class_folders


def curve(points):
    return [{"epoch": i + 1, "wall_s": w, "computation": c, "top1": t} for i, (w, c, t) in enumerate(points)]


def test_time_to_target_and_summary_rows():
    runs = [{"schedule": "baseline", "seed": 0, "curve": curve([(10, 1, 20), (20, 2, 40)])},
            {"schedule": "baseline", "seed": 1, "curve": curve([(12, 1, 30), (24, 2, 50)])},
            {"schedule": "fast", "seed": 0, "curve": curve([(5, 0.5, 46), (11, 1.2, 44)])},
            {"schedule": "fast", "seed": 1, "curve": curve([(6, 0.5, 30), (12, 1.2, 40)])}]
    assert time_to(runs[2]["curve"], 45) == 5 and time_to(runs[3]["curve"], 45) is None
    summary = summarize(runs)
    assert summary["target_top1"] == 45  # the baseline's mean final top-1
    base, fast = summary["rows"]
    assert (base["reached_target"], base["time_to_target_s"]) == ("1/2", 24)
    assert base["top1_mean"] == 45 and base["top1_std"] == pytest.approx(7.0711, abs=1e-4)
    assert fast["wall_speedup"] == pytest.approx(22 / 11.5) and fast["computation_speedup"] == pytest.approx(2 / 1.2)
    assert (fast["reached_target"], fast["time_to_target_s"]) == ("1/2", 5)
    assert fast["time_to_accuracy_speedup"] == pytest.approx(22 / 5)


def test_compared_schedules_follow_the_protocol():
    compared = schedules(12)
    assert compared["efficienttrain++"] == {"preset": "efficienttrain++", "epochs": 8, "family": "deit_small"}
    short = compared["baseline-short"]
    assert short["preset"] == "baseline" and 7 < short["epochs"] < 9  # ET's ~1.45x less computation at 12 epochs


def test_quick_report_structure(tmp_path):
    data = class_folders(tmp_path / "data", classes=20, train_per_class=8, val_per_class=5)
    out = tmp_path / "tta"
    main(["--quick", "--data", str(data), "--out", str(out), "--workers", "0"])
    report = json.loads((out / "results.json").read_text())
    for key in ("device", "commit", "command", "seeds", "recipe", "schedules"):
        assert key in report
    names = {"baseline", "efficienttrain", "efficienttrain++", "baseline-short"}
    assert {r["schedule"] for r in report["a"]["runs"]} == names
    assert [r["schedule"] for r in report["a"]["summary"]["rows"]] == list(report["schedules"])
    for run in report["a"]["runs"] + report["b"]["runs"]:
        points = run["curve"]
        assert points and all(set(p) >= {"epoch", "wall_s", "computation", "top1"} for p in points)
        assert all(a["wall_s"] < b["wall_s"] and a["computation"] < b["computation"]
                   for a, b in zip(points, points[1:]))
    for run in report["b"]["runs"]:
        walls = [p["wall_s"] for p in run["pretrain_curve"]]
        assert walls == sorted(walls) and run["pretrain_wall_s"] == walls[-1]
    assert {r["schedule"] for r in report["b"]["runs"]} == {"baseline", "efficienttrain"}
    table = (out / "results.md").read_text()
    assert table.count("| efficienttrain |") == 2 and "| baseline-short |" in table
    assert (out / "top1_vs_wall.png").stat().st_size > 1000
