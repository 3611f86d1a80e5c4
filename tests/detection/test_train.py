"""RetinaNet and Cascade Mask R-CNN on the shared COCO sample from a pretrain_mae checkpoint, through the CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_dataset

REPO = Path(__file__).resolve().parents[2]


def last_metrics(work_dir: Path) -> dict:
    scalars = sorted(work_dir.glob("*/vis_data/scalars.json"))[-1]  # one timestamped folder per run
    return [json.loads(line) for line in scalars.read_text().splitlines()][-1]


def run(module, config, work_dir, *options, extra=()):
    cmd = [sys.executable, "-m", module, str(REPO / "configs/detection" / config), *extra,
           "--work-dir", str(work_dir), "--cfg-options", *options]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.parametrize("config, metrics", [
    ("retinanet_vit-tiny_cpu_coco-mini.py", ["bbox"]),
    ("cascade-mask-rcnn_vit-tiny_cpu_coco-mini.py", ["bbox", "segm"]),
])
def test_trains_from_pretrain_mae_and_reports_coco_ap(pretrained_mae, tmp_path, config, metrics):
    data = shared_dataset("coco-mini")
    options = [f"model.backbone.pretrained={pretrained_mae / 'encoder.pth'}", f"data_root={data}/",
               f"train_dataloader.dataset.data_root={data}/", f"val_dataloader.dataset.data_root={data}/",
               f"test_dataloader.dataset.data_root={data}/",
               f"val_evaluator.ann_file={data}/annotations/instances_val2017.json",
               f"test_evaluator.ann_file={data}/annotations/instances_val2017.json",
               "val_dataloader.dataset.indices=16", "test_dataloader.dataset.indices=16",
               "train_cfg.max_iters=4", "train_cfg.val_interval=4"]
    log = run("detection.train", config, tmp_path, *options)
    assert "layer-wise lr decay 0.7" in log
    scores = last_metrics(tmp_path)
    for metric in metrics:
        assert f"{metric}_mAP_copypaste" in log
        for key in ("mAP", "mAP_50", "mAP_75"):
            assert 0.0 <= scores[f"coco/{metric}_{key}"] <= 1.0
    # the saved checkpoint resumes (mmengine's files load with torch's weights-only unpickler) and evaluates
    log = run("detection.train", config, tmp_path, *options[:-2], "train_cfg.max_iters=6",
              "train_cfg.val_interval=6", extra=["--resume"])
    assert "resumed epoch: 0, iter: 4" in log and "Iter(train) [6/6]" in log
    assert "Iter(train) [2/6]" not in log  # continued, not restarted
    log = run("detection.test", config, tmp_path / "test", *options, extra=[str(tmp_path / "iter_6.pth")])
    assert f"{metrics[-1]}_mAP_copypaste" in log


def test_torchrun_two_processes(tmp_path):
    """DDP under torchrun (`--launcher pytorch`); on a CPU host the ranks talk over gloo."""
    data = shared_dataset("coco-mini")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "detection.train",
           str(REPO / "configs/detection/retinanet_vit-tiny_cpu_coco-mini.py"), "--launcher", "pytorch",
           "--work-dir", str(tmp_path), "--cfg-options", f"train_dataloader.dataset.data_root={data}/",
           f"val_dataloader.dataset.data_root={data}/", f"val_evaluator.ann_file={data}/annotations/instances_val2017.json",
           "val_dataloader.dataset.indices=8", "train_cfg.max_iters=4", "train_cfg.val_interval=4"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "Distributed training: True" in log and "bbox_mAP_copypaste" in log
    assert (tmp_path / "iter_4.pth").is_file()
