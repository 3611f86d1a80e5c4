"""The kNN curve of a pre-training run: when it is drawn, where it goes (metrics.jsonl, TensorBoard, the console),
what it costs, and that it reads what the standalone kNN readout reads from the exported encoder."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.distributed import DistInfo
from readout.curve import EvalConfig, KNNMonitor
from tests.conftest import MICRO_MAE

REPO = Path(__file__).resolve().parents[2]
EVAL = ["eval.bank_per_class=20", "eval.val_per_class=10", "eval.every=100", "eval.k=[5,200]"]


def run(module, *sets):
    done = subprocess.run([sys.executable, "-m", module, *[f"--set={s}" for s in sets]], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_pretraining_draws_the_curve_at_every_stage_end_and_matches_the_readout(image_folder, tmp_path):
    out = tmp_path / "run"
    log = run("pretrain_mae", *MICRO_MAE, f"data.path={image_folder}", f"eval.path={image_folder}", *EVAL,
              "schedule.preset=efficienttrain", "schedule.epochs=5", "schedule.final_size=64", "optim.batch_size=32",
              f"run.output_dir={out}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if "knn/cls_k5" in r]
    # efficienttrain over 5 epochs: stages 0-3, 3-4 and 4-5 end with the records of epochs 2, 3 and 4
    assert [r["epoch"] for r in evaluated] == [2, 3, 4]
    assert [r["stage_end"] for r in records] == [False, False, True, True, True]
    assert all(r["eval_time_s"] > 0 for r in evaluated)
    totals = [r["eval_time_total_s"] for r in evaluated]
    assert totals == sorted(totals) and totals[-1] > sum(r["eval_time_s"] for r in evaluated)  # + the set-up
    assert "kNN curve: 100 bank and 50 validation images of 5 classes at 64 px, decoded once" in log
    summary = re.search(r"kNN curve: ([0-9.]+) s over 3 evaluations and the set-up = ", log)
    assert summary and abs(float(summary[1]) - totals[-1]) <= 0.06  # the record keeps 2 decimals, the line 1
    assert "% of the training wall time" in log.splitlines()[-1]
    scalars = EventAccumulator(str(out / "tensorboard")).Reload()
    for key in ("knn/cls_k5", "knn/cls_k200", "knn/avg_k5", "knn/avg_k200"):
        assert [e.step for e in scalars.Scalars(key)] == [r["step"] for r in evaluated]
        assert [round(e.value, 3) for e in scalars.Scalars(key)] == [r[key] for r in evaluated]
    # the standalone readout of the exported encoder reads the last point of the curve
    run("readout.knn", f"model.pretrained={out / 'encoder.pth'}", "model.img_size=64", f"data.path={image_folder}",
        "data.train_per_class=20", "data.val_per_class=10", "k=[5,200]", "data.num_workers=0",
        f"run.output_dir={tmp_path / 'knn'}")
    readout = json.loads((tmp_path / "knn" / "knn.json").read_text())["top1"]
    assert readout == {k[len("knn/"):]: v for k, v in evaluated[-1].items() if k.startswith("knn/")}


def test_curve_settings_are_checked(image_folder):
    info = DistInfo(0, 0, 1, torch.device("cpu"))
    with pytest.raises(ValueError, match="eval.every must be >= 1"):
        KNNMonitor(EvalConfig(path=str(image_folder), every=0), info, 64)
    with pytest.raises(ValueError, match="eval.pools must be among"):
        KNNMonitor(EvalConfig(path=str(image_folder), pools=["max"]), info, 64)



def test_a_missing_curve_folder_is_one_line_naming_the_section(image_folder, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pretrain_mae", f"--set=data.path={image_folder}",
                           f"--set=eval.path={tmp_path / 'nothing'}", f"--set=run.output_dir={tmp_path}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"eval.path={tmp_path / 'nothing'}: dataset root not found" in done.stderr
    assert "--set eval.path=null runs without the curve" in done.stderr
