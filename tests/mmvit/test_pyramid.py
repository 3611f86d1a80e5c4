"""Simple feature pyramid: strides, the values of the extra levels (ViTDet's max-pool P6, RetinaNet's P6/P7), one
map per level."""
from tests.conftest import require_openmmlab

require_openmmlab("mmcv.ops")  # before anything imports mmengine / mmvit

import torch

from mmvit import SimpleFeaturePyramid


def test_vitdet_levels_with_maxpool_p6():
    neck = SimpleFeaturePyramid(48, 16, scale_factors=(4.0, 2.0, 1.0, 0.5), num_outs=5, extra="maxpool")
    outs = neck((torch.randn(2, 48, 8, 12),))
    assert [tuple(o.shape[-2:]) for o in outs] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert all(o.shape[:2] == (2, 16) for o in outs)
    torch.testing.assert_close(outs[4], outs[3][..., ::2, ::2])  # LastLevelMaxPool: kernel 1, stride 2


def test_retinanet_levels_with_conv_p6_p7_and_per_level_inputs():
    neck = SimpleFeaturePyramid(48, 16, scale_factors=(2.0, 1.0, 0.5), num_outs=5, extra="conv")
    outs = neck((torch.randn(1, 48, 16, 16),))
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 2]
    maps = tuple(torch.randn(1, 48, 16, 16) for _ in range(3))
    per_level = neck(maps)
    assert [o.shape[-1] for o in per_level] == [32, 16, 8, 4, 2]
    for level in range(3):  # level i reads map i when given one map per level
        torch.testing.assert_close(per_level[level], neck((maps[level],))[level])
    assert not torch.allclose(per_level[0], neck((maps[1],))[0])
    # mmdet's RetinaNet extras (FPN add_extra_convs='on_output', relu_before_extra_convs=True), written out:
    # P6 = 3x3 stride-2 conv of P5, P7 = 3x3 stride-2 conv of relu(P6)
    first, second = neck.extra_convs
    p6 = torch.nn.functional.conv2d(outs[2], first.weight, first.bias, stride=2, padding=1)
    p7 = torch.nn.functional.conv2d(torch.relu(p6), second.weight, second.bias, stride=2, padding=1)
    torch.testing.assert_close(outs[3], p6)
    torch.testing.assert_close(outs[4], p7)
    assert (p6 < 0).any()  # so the relu before P7 matters
