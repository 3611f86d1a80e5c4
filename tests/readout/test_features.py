"""Readout features: MAE's class-token and global-pool definitions (models_vit.py) on timm ViTs and on our MAE."""
import pytest
import timm
import torch
import torch.nn.functional as F

from pretrain_mae.model import build_mae, encoder_state_dict
from readout.features import pooled_features

ARCH = dict(patch_size=8, embed_dim=64, depth=2, num_heads=2)


def timm_vit(img_size=32):
    return timm.create_model("vit_tiny_patch16_224", num_classes=0, global_pool="token", img_size=img_size,
                             dynamic_img_size=True, **ARCH).eval()


def pre_norm_tokens(model, images):
    """timm's forward_features without the final norm, step by step."""
    x = model._pos_embed(model.patch_embed(images))
    x = model.norm_pre(x)
    for block in model.blocks:
        x = block(x)
    return x


def test_pools_follow_mae_models_vit():
    torch.manual_seed(0)
    model, images = timm_vit(), torch.randn(3, 3, 32, 32)
    got = pooled_features(model, images, ["cls", "avg"])
    tokens = pre_norm_tokens(model, images)
    torch.testing.assert_close(got["cls"], model.norm(tokens)[:, 0])  # global_pool=False: norm, then token 0
    # global_pool=True: mean of the patch tokens before the norm, then fc_norm (frozen at weight 1, bias 0)
    torch.testing.assert_close(got["avg"], F.layer_norm(tokens[:, 1:].mean(1), (64,), eps=1e-6))
    assert not torch.allclose(got["avg"], model.norm(tokens)[:, 1:].mean(1), atol=1e-3)  # not the other average


def test_mae_encoder_features_equal_timm_with_the_exported_encoder():
    torch.manual_seed(1)
    mae = build_mae("mae_vit_tiny", img_size=32, decoder_depth=1, decoder_embed_dim=32, decoder_num_heads=2, **ARCH)
    for p in mae.parameters():  # away from the initialisation's zero biases and unit norms
        p.data.add_(torch.randn_like(p) * 0.05)
    for size in (32, 48):  # the export size is the size the readout runs at (the kNN curve: the final size)
        vit = timm_vit(size)
        vit.load_state_dict(encoder_state_dict(mae, size))
        images = torch.randn(2, 3, size, size)
        ours, theirs = pooled_features(mae, images, ["cls", "avg"]), pooled_features(vit, images, ["cls", "avg"])
        for pool in ("cls", "avg"):
            torch.testing.assert_close(ours[pool], theirs[pool], rtol=1e-4, atol=1e-5)


def test_a_cnn_offers_its_own_pooled_features_as_avg():
    model = timm.create_model("resnet10t", num_classes=0).eval()
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(pooled_features(model, images, ["avg"])["avg"], model(images))
    with pytest.raises(ValueError, match="no class token"):
        pooled_features(model, images, ["cls"])


def test_an_empty_shard_has_features_of_the_encoders_width():
    """A process whose shard of a small set is empty still gathers rows of the right width."""
    from torch.utils.data import DataLoader, TensorDataset

    from readout.features import extract_features

    mae = build_mae("mae_vit_tiny", img_size=32, decoder_depth=1, decoder_embed_dim=32, decoder_num_heads=2, **ARCH)
    empty = DataLoader(TensorDataset(torch.zeros(0, 3, 32, 32), torch.zeros(0, dtype=torch.int64)), batch_size=4)
    for model in (mae, timm_vit(32)):
        features, labels = extract_features(model, empty, ["cls", "avg"], torch.device("cpu"))
        assert features["cls"].shape == features["avg"].shape == (0, 64) and labels.shape == (0,)
