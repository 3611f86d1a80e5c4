"""``mmvit``: our OpenMMLab registry scope for plain-ViT transfer (ViTDet-style backbone, simple feature pyramid,
``LN2d``, layer-decay optimizer constructor). Import it from a config with ``custom_imports=dict(imports=['mmvit'])``
and refer to its modules as ``mmvit.ViT``, ``mmvit.SimpleFeaturePyramid``, ``mmvit.LN2d``,
``mmvit.LayerDecayOptimWrapperConstructor``; one registration serves mmdet and mmseg.
"""
from .backbone import ViT
from .layer_decay import LayerDecayOptimWrapperConstructor
from .pyramid import SimpleFeaturePyramid

__all__ = ["ViT", "SimpleFeaturePyramid", "LayerDecayOptimWrapperConstructor"]
