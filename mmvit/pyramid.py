"""The simple feature pyramid of ViTDet (Li et al. 2022, Sec. 3 and Fig. 2): multi-scale maps from a plain ViT.

Each output level ``i`` rescales its input by ``scale_factors[i]`` (2x2 stride-2 transposed convolutions to
upsample, max pooling to downsample), then a 1x1 and a 3x3 convolution with normalisation bring it to
``out_channels``. The input is either the single last ViT map, shared by all levels (ViTDet), or one map per level
(``out_indices`` of several blocks, as in the BEiT / MAE UperNet set-up). Levels beyond the scale factors come from
the last one: max pooling for Mask R-CNN's P6 (``extra='maxpool'``) or stride-2 convolutions for RetinaNet's P6/P7
(``extra='conv'``). ``LN2d`` (channel LayerNorm on NCHW maps) is timm's ``LayerNorm2d`` registered as ``mmvit.LN2d``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from timm.layers import LayerNorm2d

from .registry import MODELS

__all__ = ["SimpleFeaturePyramid", "LayerNorm2d"]

MODELS.register_module("LN2d", module=LayerNorm2d)


def _rescale(channels: int, factor: float, norm_cfg: dict) -> tuple[nn.Module, int]:
    """Layers that resize a map by ``factor`` (a power of two) and the channel count they leave."""
    steps = math.log2(factor)
    if steps != int(steps):
        raise ValueError(f"scale factors must be powers of two, got {factor}")
    if steps <= 0:
        return (nn.MaxPool2d(int(1 / factor)) if steps < 0 else nn.Identity()), channels
    layers = []
    for step in range(int(steps)):
        if step:
            layers += [build_norm_layer(norm_cfg, channels)[1], nn.GELU()]
        layers.append(nn.ConvTranspose2d(channels, channels // 2, 2, stride=2))
        channels //= 2
    return nn.Sequential(*layers), channels


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    """Args:
        in_channels: the ViT width.
        out_channels: channels of every output level.
        scale_factors: one per level, relative to the input stride (ViT-B/16: (4, 2, 1, 0.5) gives strides 4-32).
        num_outs: total levels; those past ``len(scale_factors)`` are the ``extra`` ones.
        extra: ``'maxpool'`` (P6 = max-pool of the last level) or ``'conv'`` (P6, P7 by stride-2 3x3 convs).
        norm_cfg: normalisation after each convolution, e.g. ``dict(type='mmvit.LN2d')``.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factors=(4.0, 2.0, 1.0, 0.5),
                 num_outs: int | None = None, extra: str = "maxpool", norm_cfg: dict | None = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type="mmvit.LN2d")
        self.num_levels = len(scale_factors)
        self.num_outs = num_outs or self.num_levels
        if self.num_outs < self.num_levels or extra not in ("maxpool", "conv"):
            raise ValueError(f"num_outs={num_outs} must be >= {self.num_levels} and extra one of maxpool/conv")
        self.extra = extra
        self.rescales, self.laterals, self.outputs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for factor in scale_factors:
            rescale, channels = _rescale(in_channels, float(factor), norm_cfg)
            self.rescales.append(rescale)
            self.laterals.append(ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))
            self.outputs.append(ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                                           act_cfg=None))
        self.extra_convs = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)
            for _ in range(self.num_outs - self.num_levels if extra == "conv" else 0))

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if len(inputs) not in (1, self.num_levels):
            raise ValueError(f"expected 1 or {self.num_levels} input maps, got {len(inputs)}")
        maps = inputs if len(inputs) == self.num_levels else inputs * self.num_levels
        outs = [out(lateral(rescale(x))) for x, rescale, lateral, out
                in zip(maps, self.rescales, self.laterals, self.outputs)]
        for i in range(self.num_outs - self.num_levels):
            if self.extra == "maxpool":
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                outs.append(self.extra_convs[i](outs[-1] if i == 0 else F.relu(outs[-1])))
        return tuple(outs)
