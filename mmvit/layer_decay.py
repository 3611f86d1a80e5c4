"""Layer-wise learning-rate decay for detectors and segmentors with a layered backbone (BEiT / MAE / ViTDet recipe).

Parameter ``p`` at depth ``d`` of a backbone with ``L`` layers gets ``lr = base_lr * rate ** (L - 1 - d)``; neck and
heads count as the top layer. Unlike the stock constructors, which dispatch on backbone class names, the depth comes
from the backbone itself (``backbone.layer_id(name)`` and ``backbone.num_layers``), so any backbone that states its
layering works. No weight decay on biases, norms (1-D tensors) and ``backbone.no_weight_decay()`` names.
"""
from __future__ import annotations

import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from .registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ["LayerDecayOptimWrapperConstructor"]


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``paramwise_cfg=dict(layer_decay_rate=0.65)``; the model must have a ``backbone`` with ``layer_id``."""

    def add_params(self, params: list[dict], module: nn.Module, **kwargs) -> None:
        rate = self.paramwise_cfg.get("layer_decay_rate")
        if rate is None:
            raise ValueError("LayerDecayOptimWrapperConstructor needs paramwise_cfg=dict(layer_decay_rate=...)")
        backbone = getattr(module, "backbone", None)
        if not hasattr(backbone, "layer_id") or not hasattr(backbone, "num_layers"):
            raise TypeError(f"{type(backbone).__name__} does not say its parameters' layer depths (needs "
                            "`layer_id(name)` and `num_layers`), so layer-wise decay cannot be applied")
        layers = backbone.num_layers
        skip = {f"backbone.{n}" for n in getattr(backbone, "no_weight_decay", set)()}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            depth = backbone.layer_id(name[len("backbone."):]) if name.startswith("backbone.") else layers - 1
            no_decay = param.ndim == 1 or name in skip
            params.append({"params": [param], "lr": self.base_lr * rate ** (layers - 1 - depth),
                           "weight_decay": 0.0 if no_decay else self.base_wd, "layer_id": depth, "name": name})
        if get_rank() == 0:
            print_log(f"layer-wise lr decay {rate} over {layers} layers: {len(params)} parameter groups",
                      logger="current")
