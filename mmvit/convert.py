"""Pre-trained ViT weights into the dense-prediction backbone, checked key by key.

Sources: our ``pretrain_mae`` ``encoder.pth`` / ``checkpoint-*.pth``, ``finetune`` checkpoints, and official
facebookresearch/mae files (``model`` key, decoder, ``argparse.Namespace`` args). Everything goes through
:func:`engine.weights.load_pretrained` (unwrap, drop the decoder, resample ``pos_embed`` in float32 to the backbone's
grid for its ``img_size``, e.g. 64x64 for 1024 px detection or 32x32 for 512 px segmentation). The only keys allowed
to be missing are the relative position tables and layer scales (not part of MAE); the only ones allowed to be left
over are the class token and the classification head / final norm the backbone does not use. Anything else raises.

``python -m mmvit.convert CONFIG SOURCE OUT`` writes the converted backbone (``{"model": state}``) for the
backbone of an mmdet / mmseg CONFIG, to pass as ``model.backbone.pretrained``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch.nn as nn

from engine.checkpoint import save_atomic
from engine.weights import load_pretrained

__all__ = ["load_backbone_weights", "main"]


def load_backbone_weights(backbone: nn.Module, source) -> dict[str, list[str]]:
    """Load ``source`` (path or checkpoint dict) into a :class:`mmvit.ViT`; raises ``WeightsError`` on misfit."""
    unused = ["cls_token", "head.*", "fc_norm.*"] + (["norm.*"] if backbone.norm is None else [])
    missing = ["blocks.*.attn.rel_pos_*"] + (["blocks.*.ls?.gamma"] if backbone.layer_scale is not None else [])
    return load_pretrained(backbone, source, expected_missing=missing,
                           expected_unexpected=unused)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="mmdet / mmseg config whose model.backbone receives the weights")
    parser.add_argument("source", help="MAE (ours or official) or fine-tune checkpoint")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    from mmengine.config import Config  # noqa: PLC0415
    from mmengine.registry import init_default_scope  # noqa: PLC0415

    from .registry import MODELS  # noqa: PLC0415

    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get("default_scope", "mmvit"))
    backbone_cfg = dict(cfg.model.backbone, pretrained=None)
    backbone = MODELS.build(backbone_cfg)
    report = load_backbone_weights(backbone, args.source)
    save_atomic({"model": backbone.state_dict(), "source": str(args.source)}, args.out)
    print(f"wrote {args.out}: {len(backbone.state_dict())} tensors; not in the source: {report['missing']}; "
          f"not used: {report['unexpected']}")


if __name__ == "__main__":
    main()
