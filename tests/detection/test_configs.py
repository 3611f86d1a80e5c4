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
