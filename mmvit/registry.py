"""The ``mmvit`` registry scope: children of mmengine's root registries, so one set of modules serves mmdet and
mmseg configs alike (``custom_imports=dict(imports=['mmvit'])``, then ``type='mmvit.ViT'``)."""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import Registry

__all__ = ["MODELS", "OPTIM_WRAPPER_CONSTRUCTORS"]

MODELS = Registry("model", parent=MMENGINE_MODELS, scope="mmvit", locations=["mmvit"])
OPTIM_WRAPPER_CONSTRUCTORS = Registry("optimizer wrapper constructor", parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                      scope="mmvit", locations=["mmvit"])
