"""The layer-decay constructor asks the backbone for depths: lr ratios and weight-decay exemptions."""
from tests.conftest import require_openmmlab

require_openmmlab("mmcv.ops")  # before anything imports mmengine / mmvit

import pytest
import torch.nn as nn
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from mmvit import SimpleFeaturePyramid, ViT


class Detector(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.neck = SimpleFeaturePyramid(48, 16, scale_factors=(1.0,))


def build(model, rate=0.65):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type="mmvit.LayerDecayOptimWrapperConstructor", paramwise_cfg=dict(layer_decay_rate=rate),
        optim_wrapper_cfg=dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1.0, weight_decay=0.05))))
    return constructor(model).optimizer


def test_lr_ratios_follow_backbone_depth():
    model = Detector(ViT(img_size=32, patch_size=8, embed_dim=48, depth=4, num_heads=3))
    groups = {g["name"]: g for g in build(model).param_groups}
    assert groups["backbone.pos_embed"]["lr"] == pytest.approx(0.65 ** 5)  # L = depth + 2 = 6 layers
    assert groups["backbone.patch_embed.proj.weight"]["lr"] == pytest.approx(0.65 ** 5)
    for i in range(4):
        assert groups[f"backbone.blocks.{i}.attn.qkv.weight"]["lr"] == pytest.approx(0.65 ** (4 - i))
    assert groups["neck.laterals.0.conv.weight"]["lr"] == pytest.approx(1.0)
    assert groups["backbone.pos_embed"]["weight_decay"] == 0.0
    assert groups["backbone.blocks.0.norm1.weight"]["weight_decay"] == 0.0
    assert groups["backbone.blocks.0.mlp.fc1.weight"]["weight_decay"] == 0.05
    assert len(groups) == len(list(model.parameters()))


def test_backbone_without_depths_is_refused():
    model = Detector(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="Linear does not say"):
        build(model)
