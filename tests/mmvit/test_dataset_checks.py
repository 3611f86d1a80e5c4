"""--data-root moves every dataset and evaluator path; class counts of heads and data must agree; the CPU
pretrain -> detection / segmentation chain loads."""
from tests.conftest import require_openmmlab

require_openmmlab("mmdet")  # before anything imports mmengine / mmvit

import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from engine.config import load_config
from mmvit.dataset_checks import ClassMismatchError, check_classes, point_at
from pretrain_mae.config import PretrainConfig
from pretrain_mae.model import build_mae, encoder_state_dict
from tools.sample_data import coco_shapes

REPO = Path(__file__).resolve().parents[2]
DET = REPO / "configs/detection/cascade-mask-rcnn_vit-tiny_cpu_coco-mini.py"
SEG = REPO / "configs/segmentation/upernet_vit-tiny_cpu_camvid-ade.py"


def all_strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_strings(value)
    elif isinstance(node, str):
        yield node


def test_data_root_reaches_every_dataset_and_evaluator(tmp_path):
    copy = tmp_path / "coco-copy"
    coco_shapes(copy)
    cfg = Config.fromfile(DET)
    changes = point_at(cfg, str(copy))
    assert changes and cfg.data_root == str(copy)
    sections = [cfg[k] for k in ("train_dataloader", "val_dataloader", "test_dataloader", "val_evaluator",
                                 "test_evaluator")]
    paths = [s for section in sections for s in all_strings(section) if "/" in s]
    assert not [p for p in paths if "coco-mini" in p], paths
    assert cfg.val_evaluator.ann_file == f"{copy}/annotations/instances_val2017.json"
    from mmdet.utils import register_all_modules
    from mmengine.registry import DATASETS
    register_all_modules()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)  # resolves and reads the copy
    assert str(copy) in dataset.ann_file and len(dataset) > 0
    check_classes(cfg)  # 80 COCO classes everywhere


def test_class_mismatch_stops_the_run_naming_both():
    seg = Config.fromfile(SEG)
    check_classes(seg)
    seg.merge_from_dict({"model.decode_head.num_classes": 133, "model.auxiliary_head.num_classes": 133})
    with pytest.raises(ClassMismatchError, match=r"model.decode_head.num_classes=133 but train_dataloader.dataset "
                                                 r"\(BaseSegDataset\) has 11 classes"):
        check_classes(seg)
    det = Config.fromfile(REPO / "configs/detection/retinanet_vit-tiny_cpu_coco-mini.py")
    det.merge_from_dict({"model.bbox_head.num_classes": 10})
    with pytest.raises(ClassMismatchError, match=r"model.bbox_head.num_classes=10 but train_dataloader.dataset "
                                                 r"\(CocoDataset\) has 80 classes"):
        check_classes(det)


@pytest.mark.parametrize("config", [DET, SEG], ids=["detection", "segmentation"])
def test_cpu_pretrain_encoder_loads_into_the_cpu_transfer_backbones(config):
    from mmvit import ViT  # noqa: F401  (registers the scope)
    from mmvit.convert import load_backbone_weights
    from mmvit.registry import MODELS
    m = load_config(PretrainConfig, REPO / "configs/pretrain/tiny_imagenet20_cpu.yaml").model
    mae = build_mae(m.name, patch_size=m.patch_size, embed_dim=m.embed_dim, depth=m.depth, num_heads=m.num_heads)
    backbone = MODELS.build(dict(Config.fromfile(config).model.backbone, pretrained=None))
    report = load_backbone_weights(backbone, {"model": encoder_state_dict(mae, 64)})
    new = ("rel_pos", ".ls1.gamma", ".ls2.gamma")  # ViTDet's relative positions, MAE-UperNet's layer scales
    assert not [k for k in report["missing"] if not any(part in k for part in new)]
    torch.testing.assert_close(backbone.blocks[3].mlp.fc2.weight, mae.blocks[3].mlp.fc2.weight)
