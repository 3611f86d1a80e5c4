"""UperNet on generated ADE20K-layout label maps from a pretrain_mae checkpoint: trains, evaluates mIoU."""
from tests.conftest import require_openmmlab

require_openmmlab("mmseg")  # before anything imports mmengine / mmvit

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config, dataset, iters, classes", [
    ("upernet_vit-tiny_cpu_camvid-ade.py", "ade", 20, 11),
    ("upernet_vit-tiny_cpu_ade20k-2img.py", "ade150", 4, 150),
])
def test_trains_from_pretrain_mae_and_reports_miou(pretrained_mae, sample_data, tmp_path, config, dataset, iters,
                                                   classes):
    data = sample_data / dataset
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
    names, iou, acc = per_class_table(log)
    assert names == [c.strip() for c in config_classes(REPO / "configs/segmentation" / config)]  # ADE20K has "bed "
    assert len(names) == classes
    # a class has an accuracy exactly when the validation label maps hold it (after reduce_zero_label)
    present = {names[v] for v in validation_labels(data)}
    assert {name for name, a in zip(names, acc) if not np.isnan(a)} == present and present
    assert final["mIoU"] == pytest.approx(np.nanmean(iou), abs=0.01)  # the mean of the table's IoUs
    if classes == 11:  # 20 iterations on 11 classes: beyond labelling every pixel as one class
        assert final["mIoU"] > 100.0 / classes, final


def per_class_table(log: str) -> tuple[list[str], list[float], list[float]]:
    """mmseg's per-class table (``| class | IoU | Acc |``) from the log."""
    rows = re.findall(r"^\|\s*([^|]+?)\s*\|\s*(nan|[\d.]+)\s*\|\s*(nan|[\d.]+)\s*\|$", log, re.M)
    return [r[0] for r in rows], [float(r[1]) for r in rows], [float(r[2]) for r in rows]


def config_classes(path: Path) -> tuple[str, ...]:
    """The classes a config evaluates: its own metainfo, else mmseg's ADE20K list (the reference)."""
    from mmengine.config import Config
    from mmseg.datasets import ADE20KDataset

    dataset = Config.fromfile(path).val_dataloader.dataset
    return tuple(dataset.get("metainfo", {}).get("classes", ADE20KDataset.METAINFO["classes"]))


def validation_labels(data: Path) -> set[int]:
    """The class indices the validation label maps hold: value v is class v - 1, 0 is ignored."""
    values = set()
    for png in (data / "annotations" / "validation").glob("*.png"):
        values |= set(np.unique(np.asarray(Image.open(png))).tolist())
    return {v - 1 for v in values if 0 < v < 255}


def test_labels_outside_the_classes_stop_the_run_in_one_line(tmp_path):
    """Label maps holding 40 against the 11-class config: found by the scan before training, named with the file."""
    from tools.sample_data import ade_shapes
    data = ade_shapes(tmp_path / "ade", classes=11, train=3, val=1, labels=(1, 5, 40))
    config = REPO / "configs/segmentation/upernet_vit-tiny_cpu_camvid-ade.py"
    cmd = [sys.executable, "-m", "segmentation.train", str(config),
           "--work-dir", str(tmp_path / "run"), "--data-root", str(data)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "holds segmentation label 40 (39 after reduce_zero_label)" in line, line
    assert "model.decode_head.num_classes=11" in line and "annotations/training/ADE_training_" in line, line


def test_the_label_scan_accepts_ignored_values_and_reports_the_count(tmp_path):
    from mmengine.config import Config

    from mmvit.dataset_checks import LabelRangeError, check_labels, point_at
    from tools.sample_data import ade_shapes
    cfg = Config.fromfile(REPO / "configs/segmentation/upernet_vit-tiny_cpu_camvid-ade.py")
    point_at(cfg, str(ade_shapes(tmp_path / "ok", classes=11, train=2, val=1, labels=(1, 11, 255))))
    notes = []
    assert check_labels(cfg, notes.append) == 3 and "label maps checked: 3 files" in notes[0]
    point_at(cfg, str(ade_shapes(tmp_path / "bad", classes=11, train=2, val=1, labels=(1, 12))))
    with pytest.raises(LabelRangeError, match="label 12 .*num_classes=11"):
        check_labels(cfg, None)
