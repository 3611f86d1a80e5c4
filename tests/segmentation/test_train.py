"""UperNet on the shared ADE20K-layout samples from a pretrain_mae checkpoint: trains, evaluates mIoU."""
from tests.conftest import require_openmmlab

require_openmmlab("mmseg")  # before anything imports mmengine / mmvit

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config, dataset, iters, classes", [
    ("upernet_vit-tiny_cpu_camvid-ade.py", "camvid-ade", 20, 11),
    ("upernet_vit-tiny_cpu_ade20k-2img.py", "ade20k-2img", 4, 150),
])
def test_trains_from_pretrain_mae_and_reports_miou(pretrained_mae, tmp_path, config, dataset, iters, classes):
    data = shared_dataset(dataset)
    cmd = [sys.executable, "-m", "segmentation.train", str(REPO / "configs/segmentation" / config),
           "--work-dir", str(tmp_path), "--cfg-options", f"model.backbone.pretrained={pretrained_mae / 'encoder.pth'}",
           f"train_dataloader.dataset.data_root={data}", f"val_dataloader.dataset.data_root={data}",
           f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters}"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "layer-wise lr decay 0.65" in log and "backbone weights from" in log
    (scalars,) = tmp_path.glob("*/vis_data/scalars.json")
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    final = records[-1]
    assert 0.0 <= final["mIoU"] <= 100.0 and 0.0 < final["aAcc"] <= 100.0
    assert log.count("|") > classes  # the per-class IoU table lists every class
    if dataset == "camvid-ade":  # 20 iterations on street scenes: beyond labelling every pixel as one class
        assert final["mIoU"] > 100.0 / classes, final
