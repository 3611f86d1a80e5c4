"""Every detection config builds its model from the inherited mmdet bases with our backbone, neck and optimiser."""
from tests.conftest import require_openmmlab

require_openmmlab("mmdet")  # before anything imports mmengine / mmvit

from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs/detection").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    from mmdet.registry import MODELS
    cfg = Config.fromfile(path)
    assert cfg.default_scope == "mmdet" and cfg.model.backbone.type == "mmvit.ViT"
    assert cfg.optim_wrapper.constructor == "mmvit.LayerDecayOptimWrapperConstructor"
    init_default_scope("mmdet")
    model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, pretrained=None)))
    width = {"b": 768, "l": 1024, "tiny": 96}[path.stem.split("vit-")[1].split("_")[0]]
    assert model.backbone.embed_dim == width
    strides = cfg.model.get("bbox_head", cfg.model.get("rpn_head", {})).anchor_generator.strides
    patch = cfg.model.backbone.patch_size
    assert [patch / s for s in strides[:len(cfg.model.neck.scale_factors)]] == list(cfg.model.neck.scale_factors)
    if "cpu" not in path.stem:
        assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.model.backbone.img_size == 1024


VITDET = sorted((REPO / "configs/detection").glob("*_vitdet-lsj-100e_coco.py"))
VITDET_SIZE = {"b": (0.1, 0.7, (2, 5, 8, 11)), "l": (0.4, 0.8, (5, 11, 17, 23))}  # drop path, layer decay, global


def test_every_model_has_a_vitdet_protocol_config():
    assert sorted(p.stem for p in VITDET) == [f"{m}_vit-{s}_vitdet-lsj-100e_coco" for m in
                                               ("cascade-mask-rcnn", "retinanet") for s in ("b", "l")]


@pytest.mark.parametrize("path", VITDET, ids=[p.stem for p in VITDET])
def test_vitdet_protocol(path):
    """ViTDet (detectron2 projects/ViTDet/configs/COCO/*_vitdet_{b,l}_100ep.py and the LSJ loader): 1024 LSJ,
    batch 64, 184375 iterations (100 epochs) with lr steps at iterations 163889 / 177546, AdamW 1e-4 / 0.1,
    per-size drop path, layer decay and global blocks; for Cascade Mask R-CNN the 2-conv RPN and LayerNorm
    4conv1fc box / mask heads."""
    from mmdet.registry import MODELS
    from timm.layers import LayerNorm2d
    cfg = Config.fromfile(path)
    drop_path, decay, global_blocks = VITDET_SIZE[path.stem.split("vit-")[1][0]]
    backbone = cfg.model.backbone
    assert (backbone.drop_path_rate, tuple(backbone.global_blocks)) == (drop_path, global_blocks)
    assert backbone.window_size == 14 and backbone.use_rel_pos and backbone.img_size == 1024
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == decay
    assert cfg.optim_wrapper.optimizer == dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1)
    steps = {t.type: t for t in cfg.train_dataloader.dataset.dataset.pipeline}
    assert steps["RandomResize"].scale == (1024, 1024) and steps["RandomResize"].ratio_range == (0.1, 2.0)
    assert steps["RandomCrop"].crop_size == (1024, 1024) and "RandomFlip" in steps
    assert cfg.train_dataloader.batch_size * 16 == 64 and cfg.auto_scale_lr.base_batch_size == 64
    assert cfg.train_cfg.max_iters * 64 / 118000 == pytest.approx(100, rel=1e-3)
    multistep = cfg.param_scheduler[1]  # the official iterations: 8/9 and 26/27 of training
    assert (cfg.train_cfg.max_iters, multistep.milestones) == (184375, [163889, 177546])
    test_steps = {t.type: t for t in cfg.val_dataloader.dataset.pipeline}
    assert test_steps["Resize"].scale == (1024, 1024) and "Pad" not in test_steps  # Pad would move img_shape
    assert cfg.model.data_preprocessor.pad_size_divisor == 1024  # square_pad, after normalisation
    if "cascade" not in path.stem:
        return
    assert cfg.model.train_cfg.rpn.allowed_border == -1  # detectron2 RPN.BOUNDARY_THRESH
    init_default_scope("mmdet")
    model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, pretrained=None, depth=2)))
    assert len(model.rpn_head.rpn_conv) == 2  # two 3x3 convs before the RPN outputs
    for head in model.roi_head.bbox_head:
        assert type(head).__name__ == "Shared4Conv1FCBBoxHead" and head.reg_class_agnostic
        assert len(head.shared_convs) == 4 and len(head.shared_fcs) == 1
        assert all(isinstance(conv.norm, LayerNorm2d) for conv in head.shared_convs)  # mmvit.LN2d
    for head in model.roi_head.mask_head:  # one per cascade stage
        assert len(head.convs) == 4 and all(isinstance(conv.norm, LayerNorm2d) for conv in head.convs)


@pytest.mark.parametrize("path", VITDET[:2], ids=[p.stem for p in VITDET[:2]])
def test_vitdet_layer_decay_follows_the_backbone_depth(path):
    """lr of block i = base x rate^(depth - i), embeddings rate^(depth + 1), neck and heads the base lr."""
    from mmdet.registry import MODELS
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
    cfg = Config.fromfile(path)
    init_default_scope("mmdet")
    model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, pretrained=None)))
    wrapper = dict(cfg.optim_wrapper)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=wrapper.pop("constructor"),
                                                        paramwise_cfg=wrapper.pop("paramwise_cfg"),
                                                        optim_wrapper_cfg=dict(wrapper, type="OptimWrapper")))
    groups = {g["name"]: g["lr"] for g in constructor(model).optimizer.param_groups}
    rate, depth = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate, cfg.model.backbone.depth
    assert groups["backbone.patch_embed.proj.weight"] == pytest.approx(1e-4 * rate ** (depth + 1))
    for i in (0, depth // 2, depth - 1):
        assert groups[f"backbone.blocks.{i}.mlp.fc1.weight"] == pytest.approx(1e-4 * rate ** (depth - i))
    head = next(n for n in groups if not n.startswith("backbone."))
    assert groups[head] == pytest.approx(1e-4)
