"""The frozen encoder a readout judges, from whatever names it.

``model.pretrained`` may be our ``encoder.pth`` (it records its architecture), a ``pretrain_mae`` checkpoint (its
config records it), an official facebookresearch/mae file, a ``.safetensors`` file, or a tag
``hf-hub:timm/<model>.<tag>`` (``engine.hub``); left empty, the encoder keeps timm's random initialisation, the row
every pre-trained one is compared with. ``model.name`` (any timm model) is needed only where the weights do not say
which architecture they hold. ViTs are built with their class token and final norm (``global_pool='token'``), no
head, and ``dynamic_img_size``; weights load through ``engine.weights.load_pretrained``, which refuses any missing
or unexpected key beyond a classifier head.
"""
from __future__ import annotations

from typing import Callable

import timm
import torch.nn as nn

from engine.hub import hub_model_name, is_hub_tag
from engine.weights import describe_load, load_pretrained, read_weights

from engine.distributed import DistInfo
from engine.runtime import seed_everything

from .config import EncoderConfig
from .data import readout_datasets

__all__ = ["build_encoder", "prepare"]

VIT_TEMPLATE = "vit_base_patch16_224"  # any timm ViT; the architecture comes from the keyword arguments


def _mae_architecture(weights: dict) -> dict | None:
    """The timm keyword arguments of a ViT recorded in our files: ``encoder.pth`` (``arch``) or a ``pretrain_mae``
    checkpoint (``config.model``)."""
    arch = weights.get("arch")
    if arch is None and isinstance(weights.get("config"), dict) and str(
            weights["config"].get("model", {}).get("name", "")).startswith("mae_vit"):
        from pretrain_mae.model import mae_arch  # noqa: PLC0415 (a checkpoint of the trainer names its preset)

        model = weights["config"]["model"]
        arch = mae_arch(model["name"], **{k: model.get(k) for k in ("patch_size", "embed_dim", "depth",
                                                                      "num_heads")}).__dict__
    if arch is None:
        return None
    return {k: arch[k] for k in ("patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio")}


def build_encoder(cfg: EncoderConfig, img_size: int, report: Callable[[str], None] | None = None) -> nn.Module:
    """The encoder of ``cfg``, frozen and in eval mode, for inputs of ``img_size``."""
    weights = read_weights(cfg.pretrained) if cfg.pretrained else None
    kwargs = {k: v for k, v in dict(patch_size=cfg.patch_size, embed_dim=cfg.embed_dim, depth=cfg.depth,
                                    num_heads=cfg.num_heads).items() if v is not None}
    name = cfg.name
    recorded = _mae_architecture(weights) if weights is not None else None
    if recorded is not None:
        kwargs = {**recorded, **kwargs}
        name = name or VIT_TEMPLATE
    if name is None and is_hub_tag(cfg.pretrained):
        name = hub_model_name(cfg.pretrained)
    if name is None:
        raise ValueError("model.name is required: the weights do not record their architecture (set a timm model "
                         "name, e.g. model.name=vit_base_patch16_224)")
    try:
        model = timm.create_model(name, num_classes=0, global_pool="token", img_size=img_size,
                                  dynamic_img_size=True, **kwargs)
    except TypeError:  # not a ViT: no class token, its own pooling
        model = timm.create_model(name, num_classes=0, **kwargs)
    except RuntimeError as err:  # timm: "Unknown model (...)"
        raise ValueError(f"model.name={name!r}: {err}") from None
    if weights is not None:
        result = load_pretrained(model, weights, expected_unexpected=["head.*", "fc_norm.*"])
        if report is not None:
            report(describe_load("encoder", cfg.pretrained, result))
    elif report is not None:
        report(f"encoder {name}: random initialisation (model.pretrained is empty)")
    return model.requires_grad_(False).eval()


def prepare(cfg, info: DistInfo):
    """What every readout command starts from: seeded, its ``(train, val)`` datasets and its encoder on the device;
    ``cfg`` holds ``model``, ``data`` and ``run`` sections."""
    seed_everything(cfg.run.seed)
    train_set, val_set = readout_datasets(cfg.data, cfg.run.seed)
    encoder = build_encoder(cfg.model, cfg.model.img_size, print if info.is_main else None).to(info.device)
    return train_set, val_set, encoder
