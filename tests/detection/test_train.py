"""RetinaNet and Cascade Mask R-CNN on a generated COCO-layout set of shapes from a pretrain_mae checkpoint, through
the CLI."""
from tests.conftest import require_openmmlab

require_openmmlab("mmdet")  # before anything imports mmengine / mmvit

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]


def last_metrics(work_dir: Path) -> dict:
    scalars = sorted(work_dir.glob("*/vis_data/scalars.json"))[-1]  # one timestamped folder per run
    return [json.loads(line) for line in scalars.read_text().splitlines()][-1]


def run(module, config, work_dir, *options, extra=()):
    cmd = [sys.executable, "-m", module, str(REPO / "configs/detection" / config), *extra,  # config: name or path
           "--work-dir", str(work_dir), "--cfg-options", *options]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def train_losses(work_dir: Path) -> list[float]:
    scalars = sorted(work_dir.glob("*/vis_data/scalars.json"))[-1]
    return [r["loss"] for r in map(json.loads, scalars.read_text().splitlines()) if "loss" in r]


@pytest.mark.parametrize("config, metrics, iters", [
    ("retinanet_vit-tiny_cpu_coco-mini.py", ["bbox"], 24),
    ("cascade-mask-rcnn_vit-tiny_cpu_coco-mini.py", ["bbox", "segm"], 8),
])
def test_trains_from_pretrain_mae_and_reports_coco_ap(pretrained_mae, sample_data, tmp_path, config, metrics, iters):
    """A few iterations on the same 2 images: the loss must fall (it cannot if the model, the optimiser or the
    layer-decay groups are broken), and COCO AP is computed and printed; then (RetinaNet) resume and test."""
    data = sample_data / "coco"
    options = [f"model.backbone.pretrained={pretrained_mae / 'encoder.pth'}", f"data_root={data}/",
               f"train_dataloader.dataset.data_root={data}/", f"val_dataloader.dataset.data_root={data}/",
               f"test_dataloader.dataset.data_root={data}/",
               f"val_evaluator.ann_file={data}/annotations/instances_val2017.json",
               f"test_evaluator.ann_file={data}/annotations/instances_val2017.json",
               "train_dataloader.dataset.indices=2", "val_dataloader.dataset.indices=8",
               "test_dataloader.dataset.indices=8", f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters}"]
    log = run("detection.train", config, tmp_path, *options)
    assert "layer-wise lr decay 0.7" in log and "backbone weights from" in log and "tensors loaded" in log
    losses = train_losses(tmp_path)
    assert len(losses) >= iters // 2 and losses[-1] < 0.95 * losses[0] and losses[-1] == min(losses), losses
    scores = last_metrics(tmp_path)
    for metric in metrics:
        assert f"{metric}_mAP_copypaste" in log and f"coco/{metric}_mAP" in scores
    if metrics != ["bbox"]:
        return  # resume and test go through the same entry point for every model: RetinaNet checks them
    # the saved checkpoint resumes (mmengine's files load with torch's weights-only unpickler) and evaluates
    log = run("detection.train", config, tmp_path, *options[:-2], f"train_cfg.max_iters={iters + 2}",
              f"train_cfg.val_interval={iters + 2}", extra=["--resume"])
    assert f"resumed epoch: 0, iter: {iters}" in log and f"Iter(train) [{iters + 2}/{iters + 2}]" in log
    assert f"Iter(train) [2/{iters + 2}]" not in log  # continued, not restarted
    log = run("detection.test", config, tmp_path / "test", *options,
              extra=[str(tmp_path / f"iter_{iters + 2}.pth")])
    assert f"{metrics[-1]}_mAP_copypaste" in log


def test_torchrun_two_processes(sample_data, tmp_path, torchrun_slot):
    """DDP under torchrun (`--launcher pytorch`); on a CPU host the ranks talk over gloo."""
    data = sample_data / "coco"
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


def shrunk(config: str, out: Path) -> Path:
    """``config`` with the micro ViT, every 1024-px size of its pipelines and padding at 128 px, fewer proposals,
    low-scoring boxes kept at test time (a 4-iteration model scores near chance; the CPU configs' settings) and a
    fixed seed, dumped to ``out``; heads, LSJ augmentation, optimiser and schedule are the config's own."""
    from mmengine.config import Config

    cfg = Config.fromfile(REPO / "configs/detection" / config)

    def scale(node):
        if isinstance(node, dict):
            return {k: (128, 128) if k in ("scale", "crop_size", "size") and tuple(v) == (1024, 1024) else
                    128 if k == "pad_size_divisor" and v == 1024 else scale(v) for k, v in node.items()}
        if isinstance(node, list):
            return [scale(v) for v in node]
        return node

    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[key] = scale(cfg[key].to_dict())
    cfg.model = scale(cfg.model.to_dict())
    cfg.model["backbone"].update(img_size=128, patch_size=8, embed_dim=96, depth=4, num_heads=3, drop_path_rate=0.0,
                                 window_size=4, global_blocks=(1, 3), pretrained=None)
    factors = cfg.model["neck"]["scale_factors"]
    cfg.model["neck"].update(in_channels=96, scale_factors=tuple(f / 2 for f in factors))  # same strides at patch 8
    if "rpn_head" in cfg.model:
        cfg.model["train_cfg"]["rpn_proposal"].update(nms_pre=128, max_per_img=16)
        cfg.model["test_cfg"]["rpn"].update(nms_pre=200, max_per_img=20)
        cfg.model["test_cfg"]["rcnn"].update(score_thr=0.001, max_per_img=20)
    else:
        cfg.model["test_cfg"].update(score_thr=0.0, max_per_img=20)
    cfg.randomness = dict(seed=0)
    cfg.dump(out)
    return out


@pytest.mark.parametrize("config, metric", [("retinanet_vit-b_vitdet-lsj-100e_coco.py", "bbox"),
                                            ("cascade-mask-rcnn_vit-b_vitdet-lsj-100e_coco.py", "segm")])
def test_vitdet_protocol_config_trains_and_evaluates(sample_data, tmp_path, config, metric):
    """The ViTDet-protocol config itself (LSJ crops, fixed-size padding, its heads, schedule and optimiser) at
    128 px with the micro ViT: four iterations on COCO-layout images, then COCO evaluation."""
    data = sample_data / "coco"
    log = run("detection.train", shrunk(config, tmp_path / "tiny.py"), tmp_path / "run",
              "train_dataloader.batch_size=2", "train_dataloader.num_workers=0",
              "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
              "val_dataloader.persistent_workers=False", "val_dataloader.dataset.indices=8",
              "train_cfg.max_iters=4", "train_cfg.val_interval=4", "default_hooks.logger.interval=1",
              extra=["--data-root", f"{data}/", "--no-amp"])
    records = [r for r in map(json.loads, sorted((tmp_path / "run").glob("*/vis_data/scalars.json"))[-1]
                              .read_text().splitlines()) if "loss" in r]
    assert [r["iter"] for r in records] == [1, 2, 3, 4], records
    for r in records:  # ViTDet's warm-up: 250 iterations linear from 0.001 x 1e-4 (detectron2 WarmupParamScheduler)
        assert r["base_lr"] == pytest.approx(1e-4 * (0.001 + 0.999 * (r["iter"] - 1) / 249), rel=1e-6)
        # layer decay 0.7 over depth + 2 = 6 layers: the patch embedding (layer 0) at 0.7^5
        assert r["lr"] == pytest.approx(r["base_lr"] * 0.7 ** 5, rel=1e-6)
    first = records[0]
    terms = {k: v for k, v in first.items() if "loss" in k and k != "loss"}
    assert first["loss"] == pytest.approx(sum(terms.values()), rel=1e-5)  # the logged total is every head's sum
    if metric == "bbox":  # RetinaNet: focal loss (alpha 0.25, gamma 2) at the head's prior p = 0.01
        assert set(terms) == {"loss_cls", "loss_bbox"}
        positive = 0.25 * 0.99 ** 2 * -math.log(0.01)  # one positive anchor's term, per positive
        negatives = 9 * (16 ** 2 + 8 ** 2 + 4 ** 2 + 2 ** 2 + 1) * 80 * 0.75 * 0.01 ** 2 * -math.log(0.99)
        assert positive <= terms["loss_cls"] <= positive + negatives, terms  # <= every anchor negative, 1 positive
    else:  # Cascade: cross-entropy over 80 + 1 classes at a near-uniform start, stage weights 1, 0.5, 0.25
        assert set(terms) == {"loss_rpn_cls", "loss_rpn_bbox"} | {f"s{i}.loss_{k}" for i in range(3)
                                                                   for k in ("cls", "bbox", "mask")}
        assert terms["s0.loss_cls"] == pytest.approx(math.log(81), abs=0.1)
        assert terms["s1.loss_cls"] / terms["s0.loss_cls"] == pytest.approx(0.5, rel=0.05)
        assert terms["s2.loss_cls"] / terms["s0.loss_cls"] == pytest.approx(0.25, rel=0.05)
        assert terms["loss_rpn_cls"] == pytest.approx(math.log(2), abs=0.02)  # sigmoid at 0.5
    assert "Iter(train) [4/4]" in log and f"{metric}_mAP_copypaste" in log


def test_mixed_precision_config_on_a_cpu_host_names_the_flag(tmp_path):
    import torch

    from mmvit.launch import main
    if torch.cuda.is_available():
        pytest.skip("the message is for CPU-only hosts")
    with pytest.raises(SystemExit, match="AmpOptimWrapper.*add --no-amp"):
        main("train", "detection", [str(REPO / "configs/detection/retinanet_vit-b_1x_coco.py"), "--work-dir",
                                    str(tmp_path)])


def test_an_unreadable_annotation_file_stops_the_run_in_one_line(tmp_path):
    from tools.sample_data import coco_shapes
    data = coco_shapes(tmp_path / "coco", train=2, val=2)
    (data / "annotations/instances_train2017.json").write_text('{"images": [')
    cmd = [sys.executable, "-m", "detection.train", str(REPO / "configs/detection/retinanet_vit-tiny_cpu_coco-mini.py"),
           "--work-dir", str(tmp_path / "run"), "--data-root", f"{data}/"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "instances_train2017.json is not valid JSON" in line and line.startswith("error: train_dataloader"), line
