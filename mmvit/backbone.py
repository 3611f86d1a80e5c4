"""A plain ViT backbone for dense prediction, initialised from our MAE / fine-tune checkpoints (ViTDet style).

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ViTDet, ECCV 2022): the MAE encoder
without its class token, absolute position embeddings resampled to the input grid, optional window attention in
all but a few global blocks and decomposed relative position biases (Sec. 3, "Backbone adaptation"). The blocks are
timm's SAM/ViTDet blocks, whose parameter names equal the MAE/timm ViT ones, so the pre-trained weights load by name.

``forward`` returns the token maps of ``out_indices`` as ``[B, C, H/p, W/p]`` tensors; ``layer_id`` tells the
layer-decay optimizer constructor each parameter's depth (0: embeddings, i + 1: block i).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.vision_transformer_sam import Block

from engine.weights import describe_load, resample_pos_embed

from .registry import MODELS

__all__ = ["ViT"]


@MODELS.register_module()
class ViT(BaseModule):
    """Plain ViT with multi-level outputs.

    Args:
        img_size: the training input size the position embeddings (and global relative positions) are built for;
            other sizes are handled by resampling at run time.
        window_size: window attention in every block except ``global_blocks`` (0 disables windows).
        use_rel_pos: decomposed relative position biases (zero-initialised, not in MAE checkpoints).
        layer_scale: initial value of per-channel layer scale on both residual branches (timm ``LayerScale``, not
            in MAE checkpoints); mmseg's MAE-UperNet uses 1.0 (``init_values``), ViTDet none.
        out_indices: blocks whose outputs are returned (ViTDet: the last; UperNet: four spread over the depth).
        final_norm: apply the pre-trained final LayerNorm to the last output.
        pretrained: a checkpoint for :func:`mmvit.convert.load_backbone_weights` (MAE, fine-tune or converted).
    """

    def __init__(self, img_size: int = 1024, patch_size: int = 16, in_channels: int = 3, embed_dim: int = 768,
                 depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path_rate: float = 0.1, window_size: int = 0, global_blocks: tuple[int, ...] = (),
                 use_rel_pos: bool = False, layer_scale: float | None = None, out_indices: tuple[int, ...] = (-1,),
                 final_norm: bool = False, pretrained: str | None = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.patch_size, self.embed_dim, self.depth = patch_size, embed_dim, depth
        self.out_indices = tuple(i % depth for i in out_indices)
        self.pretrained, self.layer_scale = pretrained, layer_scale
        self.patch_embed = PatchEmbed(img_size, patch_size, in_channels, embed_dim, output_fmt="NHWC",
                                      strict_img_size=False)
        grid = self.patch_embed.grid_size
        # MAE layout (a class-token slot first) so checkpoints load by shape; the slot is not used
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid[0] * grid[1], embed_dim))
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, init_values=layer_scale, drop_path=rates[i],
                  use_rel_pos=use_rel_pos, window_size=0 if i in global_blocks else window_size, input_size=grid,
                  norm_layer=nn.LayerNorm) for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim) if final_norm else None
        trunc_normal_(self.pos_embed, std=0.02)

    @property
    def num_layers(self) -> int:
        """Layer-decay depth: embeddings, the blocks, and everything after them (norm, neck, heads)."""
        return self.depth + 2

    def layer_id(self, name: str) -> int:
        """The layer-decay depth of parameter ``name`` (as in ``named_parameters()``; BEiT / MAE convention)."""
        if name.startswith(("patch_embed", "pos_embed")):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return self.depth + 1

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    def init_weights(self):
        if self.pretrained is None:
            return super().init_weights()
        from mmengine.logging import print_log  # noqa: PLC0415

        from .convert import load_backbone_weights  # noqa: PLC0415 (convert builds on this module)
        report = load_backbone_weights(self, self.pretrained)
        print_log(describe_load("backbone", self.pretrained, report), logger="current")

    def _pos_embed(self, grid: tuple[int, int]) -> torch.Tensor:
        return resample_pos_embed(self.pos_embed, grid, num_prefix_tokens=1)[:, 1:].reshape(1, grid[0], grid[1], -1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.patch_embed(x)  # [B, H, W, C]
        x = x + self._pos_embed(tuple(x.shape[1:3]))
        outs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.out_indices:
                y = self.norm(x) if self.norm is not None and i == self.depth - 1 else x
                outs.append(y.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
