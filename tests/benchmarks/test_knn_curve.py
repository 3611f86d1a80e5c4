"""The kNN-curve benchmark: its cost arithmetic on a known record file, and the structure of a --quick report (never
its accuracies)."""
import json
import subprocess
import sys
from pathlib import Path


from benchmarks.knn_curve import curve, main

REPO = Path(__file__).resolve().parents[2]


def test_cost_and_points_from_the_records(tmp_path):
    records = [
        {"epoch": 0, "stage": 0, "size": 48, "train_time_s": 40.0, "computation": 0.5},
        {"epoch": 1, "stage": 0, "size": 48, "train_time_s": 80.0, "computation": 1.0, "knn/cls_k20": 30.0,
         "eval_time_s": 1.0, "eval_time_total_s": 3.0},
        {"epoch": 2, "stage": 1, "size": 64, "train_time_s": 130.0, "computation": 2.0, "knn/cls_k20": 35.5,
         "eval_time_s": 1.5, "eval_time_total_s": 4.5}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    got = curve(tmp_path)
    assert [p["epoch"] for p in got["points"]] == [1, 2] and got["points"][1]["cls_k20"] == 35.5
    assert (got["evaluations"], got["eval_time_s"], got["train_time_s"]) == (2, 4.5, 130.0)
    assert got["eval_setup_s"] == 2.0  # 4.5 s in all, 1.0 + 1.5 s of evaluations
    assert got["eval_share"] == round(4.5 / 130, 4) and got["final"] == {"cls_k20": 35.5}


def test_quick_report_and_a_rerun_that_skips_what_finished(image_folder, tmp_path, capsys):
    main(["--quick", "--data", str(image_folder), "--out", str(tmp_path)])
    report = json.loads((tmp_path / "results.json").read_text())
    assert list(report["runs"]) == ["baseline", "efficienttrain", "random"]
    assert report["runs"]["random"]["train_time_s"] == 0 and report["runs"]["random"]["evaluations"] == 1
    for run in list(report["runs"].values())[:2]:  # 3 epochs, eval.every=1: a point per epoch
        assert [p["epoch"] for p in run["points"]] == [0, 1, 2]
        assert set(run["final"]) == {"cls_k20", "cls_k200", "avg_k20", "avg_k200"}
    assert report["runs"]["efficienttrain"]["computation"] < report["runs"]["baseline"]["computation"]
    assert report["config"] == "configs/pretrain/imagenette_cpu.yaml"
    assert (tmp_path / "knn_vs_wall.png").stat().st_size > 0 and "| efficienttrain |" in (tmp_path /
                                                                                           "results.md").read_text()
    capsys.readouterr()
    main(["--quick", "--data", str(image_folder), "--out", str(tmp_path)])
    assert capsys.readouterr().out.count("already, skipped") == 3


def test_a_folder_without_splits_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/knn_curve.py", "--data", str(tmp_path), "--out",
                           str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "has no train/ folder" in done.stderr
