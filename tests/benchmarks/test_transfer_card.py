"""The transfer card: its summary arithmetic on known runs, and the structure of --quick cards on generated data
(classification, ADE20K layout, COCO layout), never their accuracies."""
import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.transfer_card import main, summary, table
from tests.conftest import require_openmmlab

REPO = Path(__file__).resolve().parents[2]


def test_summary_and_table_from_known_runs():
    runs = {"pretrain/baseline/seed0": {"train_time_s": 600.0, "computation": 20.0},
            "pretrain/baseline/seed1": {"train_time_s": 620.0, "computation": 20.0},
            "pretrain/efficienttrain/seed0": {"train_time_s": 400.0, "computation": 13.7},
            "pretrain/efficienttrain/seed1": {"train_time_s": 410.0, "computation": 13.7},
            "pretrain/random/seed0": {"train_time_s": 0.0, "computation": 0.0},
            "probe/baseline/seed0": {"top1": 48.0, "train_time_s": 30.0},
            "probe/baseline/seed1": {"top1": 46.0, "train_time_s": 32.0},
            "probe/random/seed0": {"top1": 31.0, "train_time_s": 30.0},
            "linseg/efficienttrain/seed0": {"mIoU": 25.5, "train_time_s": 50.0}}
    report = {"runs": runs, "pretrain_config": "c.yaml", "data": "d", "seg": "s", "det": "-"}
    report["card"] = summary(report, ["baseline", "efficienttrain", "random"])
    base = report["card"]["baseline"]
    assert base["pretrain_wall_s"] == {"mean": 610.0, "std": round(statistics.stdev([600, 620]), 3), "seeds": 2}
    assert base["probe/top1"]["mean"] == 47.0 and base["probe/top1"]["std"] == round(2 ** 0.5, 3)
    assert "pretrain_wall_s" not in report["card"]["random"]
    assert report["card"]["efficienttrain"]["linseg/mIoU"] == {"mean": 25.5, "std": None, "seeds": 1}
    text = table(report)
    assert "| efficienttrain | 405.0 ± 7.1 s | 1.51x | 13.70 epochs |" in text  # 610 / 405
    assert "| 47.0 ± 1.4 |" in text and "25.5 (1 seed)" in text
    assert "probe 31" in text  # mean training time of the probe's three runs


def test_quick_card_and_a_rerun_that_skips_what_finished(sample_data, tmp_path, capsys):
    argv = ["--quick", "--data", str(sample_data / "classes"), "--seg", str(sample_data / "ade"), "--out",
            str(tmp_path), "--seeds", "1", "--readouts", "knn", "probe", "finetune", "linseg"]
    main(argv)
    report = json.loads((tmp_path / "results.json").read_text())
    rows = ("baseline", "efficienttrain", "random")
    assert list(report["runs"]) == [f"{r}/{row}/seed0" for row in rows
                                    for r in ("pretrain", "knn", "probe", "finetune", "linseg")]
    pre = {row: report["runs"][f"pretrain/{row}/seed0"] for row in rows}
    assert pre["efficienttrain"]["computation"] < pre["baseline"]["computation"] and pre["random"]["computation"] == 0
    assert [p["epoch"] for p in pre["baseline"]["points"]] == [0, 1]  # the curve: eval.every=1 over 2 epochs
    for row in rows:
        assert pre[row]["encoder"].startswith("$OUT/")  # no path of this machine in the report
        assert Path(pre[row]["encoder"].replace("$OUT", str(tmp_path))).is_file()
        assert set(report["card"][row]) >= {"probe/top1", "finetune/top1", "linseg/mIoU"}
        assert f"--set model.pretrained={pre[row]['encoder']}" in report["runs"][f"knn/{row}/seed0"]["command"]
        assert str(tmp_path) not in json.dumps(report)
    assert "python -m pretrain_mae --config configs/pretrain/imagenette_cpu.yaml" in pre["baseline"][
        "pretrain_command"]
    assert (tmp_path / "knn_vs_wall.png").stat().st_size > 0
    assert "| random | - | - | - |" in (tmp_path / "results.md").read_text()
    capsys.readouterr()
    main(argv)
    assert "seed0: {" not in capsys.readouterr().out  # nothing ran again


def test_dense_readouts_of_a_given_encoder(sample_data, pretrained_mae, tmp_path):
    require_openmmlab()
    main(["--quick", "--data", str(sample_data / "classes"), "--seg", str(sample_data / "ade"), "--det",
          str(sample_data / "coco"), "--out", str(tmp_path), "--encoder", f"mine={pretrained_mae / 'encoder.pth'}",
          "--no-random", "--seeds", "1", "--readouts", "upernet", "detection"])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert list(runs) == ["upernet/mine/seed0", "detection/mine/seed0"]
    assert 0 <= runs["upernet/mine/seed0"]["mIoU"] <= 100 and runs["upernet/mine/seed0"]["iters"] == 2
    assert {"AP", "AP50", "AR100"} <= set(runs["detection/mine/seed0"])
    assert "--work-dir $OUT/detection/mine-seed0" in runs["detection/mine/seed0"]["command"]


def test_bad_input_is_one_line(sample_data, tmp_path):
    for extra, message in ((["--readouts", "detection"], "readout detection needs --det"),
                           (["--encoder", "x"], "give NAME=PATH of an existing weights file")):
        done = subprocess.run([sys.executable, "benchmarks/transfer_card.py", "--data", str(sample_data / "classes"),
                               "--out", str(tmp_path), *extra], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
