"""The one pre-trained loader: unwrapping, pos-embed resampling, and loud failures on wrong keys or shapes."""
import pytest
import timm
import torch

from engine.weights import WeightsError, load_pretrained

VIT = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)


def vit(img_size=32, **kw):
    return timm.create_model("vit_tiny_patch16_224", img_size=img_size, num_classes=5, **{**VIT, **kw})


def test_unwraps_resamples_and_loads_everything(tmp_path):
    source = vit(32)
    state = {"module." + k: v for k, v in source.state_dict().items() if not k.startswith("head")}
    state["decoder_embed.weight"] = torch.zeros(3)  # MAE decoder keys are dropped
    torch.save({"model": state}, tmp_path / "ckpt.pth")
    target = vit(64)
    load_pretrained(target, tmp_path / "ckpt.pth", expected_missing=["head.*"])
    torch.testing.assert_close(target.blocks[1].attn.qkv.weight, source.blocks[1].attn.qkv.weight)
    assert target.pos_embed.shape == (1, 1 + 64, 32)
    torch.testing.assert_close(target.pos_embed[:, 0], source.pos_embed[:, 0])  # cls position kept


def test_wrong_keys_raise_with_their_names(tmp_path):
    state = vit().state_dict()
    del state["blocks.0.norm1.weight"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match=r"missing: \['blocks.0.norm1.weight'\][\s\S]*extra.weight"):
        load_pretrained(vit(), {"state_dict": state}, expected_missing=["head.*"])


def test_wrong_shape_raises_naming_the_tensor():
    state = vit(embed_dim=48, num_heads=2).state_dict()
    with pytest.raises(WeightsError, match="wrong shape[\\s\\S]*cls_token"):
        load_pretrained(vit(), state)
