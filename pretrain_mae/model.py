"""Masked autoencoder ViT (He et al., CVPR 2022) whose input size may change during training.

For an input of ``B x B`` pixels and patch ``p`` the patch grid is ``(B/p) x (B/p)``, ``L = (B/p)^2``. At every size:

* the mask ratio is the same and exactly ``round(L * (1 - ratio))`` patches stay visible per image;
* masks are drawn on the current grid from per-sample noise (``masking_noise``), so they depend only on the sample
  key and not on the batch layout, the rank or the world size;
* the fixed 2-D sin-cos position embeddings of encoder and decoder are MAE's table (``util/pos_embed.py``)
  computed for the current grid (``engine.weights.fixed_sincos_pos_embed``), never a 224 table interpolated;
* the reconstruction targets are the patches of the input at the current size (the low-frequency crop).

Blocks, patch embedding and attention (``scaled_dot_product_attention``) come from timm, so the encoder's keys are
those of timm's ``VisionTransformer`` and ``encoder_state_dict`` exports it for ``vit_*_patch16_224`` directly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block

from curriculum import ViTCost
from engine.keyed_random import keyed_uniform as masking_noise  # MAE's per-patch noise, one row a sample
from engine.weights import fixed_sincos_pos_embed

__all__ = ["MaskedAutoencoderViT", "MAE_PRESETS", "build_mae", "masking_noise", "patchify", "unpatchify",
           "encoder_state_dict", "mae_arch", "mae_cost"]


@dataclass(frozen=True)
class MAEArch:
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0


# ViT sizes of Dosovitskiy et al. / DeiT; decoder 8 x 512 as in MAE (Table 1).
MAE_PRESETS: dict[str, MAEArch] = {
    "mae_vit_tiny": MAEArch(16, 192, 12, 3, 256, 4, 8),
    "mae_vit_small": MAEArch(16, 384, 12, 6),
    "mae_vit_base": MAEArch(16, 768, 12, 12),
    "mae_vit_large": MAEArch(16, 1024, 24, 16),
    "mae_vit_huge": MAEArch(14, 1280, 32, 16),
}


def mae_cost(arch: MAEArch, mask_ratio: float = 0.75, in_chans: int = 3) -> ViTCost:
    """The cost model of an MAE architecture: the one record (``MAEArch``) produces it."""
    return ViTCost(arch.depth, arch.embed_dim, arch.patch_size, arch.mlp_ratio, in_chans=in_chans,
                   mask_ratio=mask_ratio, decoder_depth=arch.decoder_depth, decoder_dim=arch.decoder_embed_dim)


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """``[N, C, H, W] -> [N, L, p*p*C]`` (row-major patches, pixels ordered p, p, C as in MAE)."""
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, p: int, channels: int = 3) -> torch.Tensor:
    n, length, _ = patches.shape
    g = int(round(length ** 0.5))
    x = patches.reshape(n, g, g, p, p, channels)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(n, channels, g * p, g * p)


class MaskedAutoencoderViT(nn.Module):
    num_prefix_tokens = 1  # the class token (timm's attribute, read by readout.features)

    def __init__(self, arch: MAEArch, mask_ratio: float = 0.75, norm_pix_loss: bool = True, in_chans: int = 3,
                 img_size: int = 224):
        super().__init__()
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.arch, self.mask_ratio, self.norm_pix_loss, self.in_chans = arch, mask_ratio, norm_pix_loss, in_chans
        self.embed_dim = arch.embed_dim  # timm's attribute: the encoder's width
        p, dim, dec = arch.patch_size, arch.embed_dim, arch.decoder_embed_dim
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.patch_embed = PatchEmbed(img_size=224, patch_size=p, in_chans=in_chans, embed_dim=dim,
                                      strict_img_size=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(Block(dim, arch.num_heads, arch.mlp_ratio, qkv_bias=True, norm_layer=norm)
                                    for _ in range(arch.depth))
        self.norm = norm(dim)
        self.decoder_embed = nn.Linear(dim, dec)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec))
        self.decoder_blocks = nn.ModuleList(Block(dec, arch.decoder_num_heads, arch.mlp_ratio, qkv_bias=True,
                                                  norm_layer=norm) for _ in range(arch.decoder_depth))
        self.decoder_norm = norm(dec)
        self.decoder_pred = nn.Linear(dec, p * p * in_chans)
        # the fixed table of the final size, kept in checkpoints so the encoder loads like any ViT (not trained;
        # forward computes the table of the current grid)
        grid = self.grid(img_size)
        self.register_buffer("pos_embed", fixed_sincos_pos_embed((grid, grid), dim))
        self._init_weights()

    def _init_weights(self) -> None:
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ geometry
    def grid(self, size: int) -> int:
        p = self.arch.patch_size
        if size % p:
            raise ValueError(f"input size {size} is not a multiple of the patch size {p}; round the schedule's "
                             f"sizes to the patch (schedule.round_to_patch=true)")
        return size // p

    def num_visible(self, num_patches: int) -> int:
        return int(round(num_patches * (1 - self.mask_ratio)))

    def cost_model(self) -> ViTCost:
        """Forward multiply-accumulates of this MAE per input size (``curriculum.cost``)."""
        return mae_cost(self.arch, self.mask_ratio, self.in_chans)

    def no_weight_decay(self) -> set[str]:
        return {"cls_token", "mask_token"}

    # ------------------------------------------------------------------ forward
    def random_masking(self, x: torch.Tensor, noise: torch.Tensor):
        """Keep the ``num_visible`` patches with the smallest noise; return kept tokens, mask and restore order."""
        n, length, dim = x.shape
        keep = self.num_visible(length)
        shuffle = torch.argsort(noise, dim=1)
        restore = torch.argsort(shuffle, dim=1)
        kept = torch.gather(x, 1, shuffle[:, :keep, None].expand(-1, -1, dim))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, restore), restore

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens with the sin-cos position embedding of the current grid."""
        grid = self.grid(images.shape[-1])
        x = self.patch_embed(images)
        return x + fixed_sincos_pos_embed((grid, grid), x.shape[-1], x.device)[0, 1:].to(x.dtype)

    def _encode(self, patches: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)  # cls position embedding: 0
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward_encoder(self, images: torch.Tensor, noise: torch.Tensor):
        x, mask, restore = self.random_masking(self._embed(images), noise)
        return self._encode(x), mask, restore

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Every token of the unmasked image after the final norm, ``[N, 1 + L, D]``: the encoder as a readout
        (``readout.features``) and timm's ``VisionTransformer.forward_features`` see it."""
        return self._encode(self._embed(images))

    def forward_decoder(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)
        n, length = restore.shape
        masked = self.mask_token.expand(n, length + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], masked], dim=1)
        patches = torch.gather(patches, 1, restore[..., None].expand(-1, -1, x.shape[-1]))
        grid = int(round(length ** 0.5))
        patches = patches + fixed_sincos_pos_embed((grid, grid), x.shape[-1], x.device)[0, 1:].to(x.dtype)
        x = torch.cat([x[:, :1], patches], dim=1)
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def loss(self, images: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        target = patchify(images, self.arch.patch_size)
        if self.norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        per_patch = (pred.float() - target.float()).pow(2).mean(-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None):
        """``images`` ``[N, C, B, B]``; ``noise`` ``[N, L]`` (default: ``torch.rand``). Returns loss, pred, mask."""
        if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
            raise ValueError(f"MAE expects square images [N, C, B, B], got {tuple(images.shape)}")
        length = self.grid(images.shape[-1]) ** 2
        if noise is None:
            noise = torch.rand(images.shape[0], length, device=images.device)
        if noise.shape != (images.shape[0], length):
            raise ValueError(f"noise must be [N, L] = {(images.shape[0], length)}, got {tuple(noise.shape)}")
        latent, mask, restore = self.forward_encoder(images, noise)
        pred = self.forward_decoder(latent, restore)
        return self.loss(images, pred, mask), pred, mask


def mae_arch(name: str, **overrides) -> MAEArch:
    """The architecture of preset ``name`` with any ``MAEArch`` field overridden (``None`` keeps the preset value)."""
    if name not in MAE_PRESETS:
        raise ValueError(f"unknown MAE model {name!r}; choose one of {sorted(MAE_PRESETS)}")
    fields = {k: v for k, v in overrides.items() if v is not None}
    return MAEArch(**{**MAE_PRESETS[name].__dict__, **fields})


def build_mae(name: str, mask_ratio: float = 0.75, norm_pix_loss: bool = True, img_size: int = 224,
              **overrides) -> MaskedAutoencoderViT:
    """An MAE from a preset name (``mae_arch``); ``img_size`` is the final input size (the stored ``pos_embed``)."""
    return MaskedAutoencoderViT(mae_arch(name, **overrides), mask_ratio=mask_ratio, norm_pix_loss=norm_pix_loss,
                                img_size=img_size)


def encoder_state_dict(model: MaskedAutoencoderViT, img_size: int) -> dict[str, torch.Tensor]:
    """The encoder in timm ``VisionTransformer`` naming, with ``pos_embed`` ``[1, 1 + L, D]`` for ``img_size``."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not k.startswith(("decoder", "mask_token"))}
    grid = model.grid(img_size)
    state["pos_embed"] = fixed_sincos_pos_embed((grid, grid), model.arch.embed_dim)
    return state
