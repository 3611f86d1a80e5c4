"""Every segmentation config builds its model from the inherited mmseg bases with our backbone; the ADE20K configs
are mmseg's MAE-UperNet with only the backbone and the layer-decay constructor replaced."""
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
    assert cfg.model.neck.type == "Feature2Pyramid" and cfg.model.neck.embed_dim == model.backbone.embed_dim
    assert len(model.backbone.out_indices) == len(cfg.model.neck.rescales) == len(cfg.model.decode_head.in_channels)
    if "cpu" not in path.stem:
        assert cfg.crop_size == (512, 512) and cfg.train_cfg.max_iters == 160000
        assert cfg.optim_wrapper.type == "AmpOptimWrapper"


def test_ade20k_config_is_mmseg_mae_upernet_but_the_backbone(tmp_path):
    """Against the mmseg file itself: neck, heads, test mode, schedule, data and batch are the official ones."""
    ours = Config.fromfile(REPO / "configs/segmentation/upernet_vit-b_160k_ade20k-512.py")
    (tmp_path / "official.py").write_text("_base_ = ['mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py']\n")
    official = Config.fromfile(tmp_path / "official.py")
    for key in ("neck", "decode_head", "auxiliary_head", "test_cfg", "data_preprocessor"):
        assert ours.model[key] == official.model[key], key
    for key in ("param_scheduler", "train_cfg", "train_dataloader", "val_dataloader", "crop_size"):
        assert ours[key] == official[key], key
    assert ours.model.neck.rescales == [4, 2, 1, 0.5] and ours.model.decode_head.channels == 768
    assert ours.model.test_cfg == dict(mode="slide", crop_size=(512, 512), stride=(341, 341))
    backbone, mae = ours.model.backbone, official.model.backbone
    assert (backbone.embed_dim, backbone.depth, backbone.num_heads) == (mae.embed_dims, mae.num_layers, mae.num_heads)
    assert (tuple(backbone.out_indices), backbone.layer_scale, backbone.drop_path_rate) == \
        (tuple(mae.out_indices), mae.init_values, mae.drop_path_rate)
    assert ours.optim_wrapper.optimizer == official.optim_wrapper.optimizer
    assert ours.optim_wrapper.paramwise_cfg.layer_decay_rate == official.optim_wrapper.paramwise_cfg.layer_decay_rate
