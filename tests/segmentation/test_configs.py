"""Every segmentation config builds its model from the inherited mmseg bases with our backbone and neck."""
from tests.conftest import require_openmmlab

require_openmmlab("mmseg")  # before anything imports mmengine / mmvit

from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs/segmentation").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    from mmseg.registry import MODELS
    cfg = Config.fromfile(path)
    assert cfg.default_scope == "mmseg" and cfg.model.backbone.type == "mmvit.ViT"
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.65
    init_default_scope("mmseg")
    model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, pretrained=None)))
    assert len(model.backbone.out_indices) == len(cfg.model.neck.scale_factors) == len(cfg.model.decode_head.in_channels)
    if "cpu" not in path.stem:
        assert cfg.crop_size == (512, 512) and cfg.train_cfg.max_iters == 160000
        assert cfg.optim_wrapper.type == "AmpOptimWrapper"
