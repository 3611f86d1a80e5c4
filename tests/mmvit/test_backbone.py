"""The ViTDet-style backbone: equals timm's ViT on MAE weights, window attention, resampled positions, layer ids."""
from tests.conftest import require_openmmlab

require_openmmlab("mmcv.ops")  # before anything imports mmengine / mmvit

import pytest
import timm
import torch

from mmvit import ViT


def tiny(**kwargs):
    return ViT(img_size=64, patch_size=8, embed_dim=48, depth=4, num_heads=3, drop_path_rate=0.0, **kwargs)


def test_global_attention_backbone_equals_timm_vit_features():
    """Independent reference: timm's VisionTransformer with the same weights (class token aside, one block)."""
    backbone = tiny(out_indices=(0, 3)).eval()
    vit = timm.create_model("vit_tiny_patch16_224", img_size=64, patch_size=8, embed_dim=48, depth=4, num_heads=3,
                            class_token=False, no_embed_class=False, num_classes=0, global_pool="").eval()
    state = backbone.state_dict()
    vit_state = {**state, "pos_embed": state["pos_embed"][:, 1:]}
    missing, unexpected = vit.load_state_dict(vit_state, strict=False)
    assert not unexpected and set(missing) == {"norm.weight", "norm.bias"}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        tokens = [vit.patch_embed(x) + vit.pos_embed]
        for block in vit.blocks:
            tokens.append(block(tokens[-1]))
        first, last = backbone(x)
    assert first.shape == last.shape == (2, 48, 8, 8)
    torch.testing.assert_close(first.flatten(2).transpose(1, 2), tokens[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(last.flatten(2).transpose(1, 2), tokens[4], atol=1e-4, rtol=1e-4)


def test_window_attention_and_other_input_sizes():
    backbone = tiny(window_size=4, global_blocks=(3,), use_rel_pos=True).eval()
    names = dict(backbone.named_parameters())
    assert names["blocks.0.attn.rel_pos_h"].shape == (2 * 4 - 1, 16)  # window blocks: relative table per window
    assert names["blocks.3.attn.rel_pos_h"].shape == (2 * 8 - 1, 16)  # global block: the 8x8 grid
    with torch.no_grad():
        (out,) = backbone(torch.randn(1, 3, 96, 80))  # not the built size: positions resampled, windows padded
    assert out.shape == (1, 48, 12, 10)
    # a window block sees only its window: a change in one corner leaves the far corner of block 0's output alone
    x = torch.randn(1, 3, 64, 64)
    y = x.clone()
    y[..., :8, :8] += 1.0
    block0 = tiny(window_size=4, out_indices=(0,)).eval()
    with torch.no_grad():
        (a,), (b,) = block0(x), block0(y)
    assert not torch.allclose(a[..., :4, :4], b[..., :4, :4])
    torch.testing.assert_close(a[..., 4:, 4:], b[..., 4:, 4:])


def test_layer_ids():
    backbone = tiny()
    assert backbone.num_layers == 6
    assert backbone.layer_id("pos_embed") == backbone.layer_id("patch_embed.proj.weight") == 0
    assert [backbone.layer_id(f"blocks.{i}.mlp.fc1.weight") for i in range(4)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="powers of two"):
        from mmvit.pyramid import SimpleFeaturePyramid
        SimpleFeaturePyramid(48, 16, scale_factors=(3.0,))
