"""MAE geometry at changing input sizes: masking invariants, position embeddings, export to timm."""
import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from engine.weights import fixed_sincos_pos_embed
from pretrain_mae.model import build_mae, encoder_state_dict, masking_noise, patchify, unpatchify


def mae_1d_sincos(dim, positions):
    """facebookresearch/mae util/pos_embed.py get_1d_sincos_pos_embed_from_grid, written out in NumPy."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = np.einsum("m,d->md", positions.reshape(-1), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def mae_2d_sincos(dim, grid):
    """facebookresearch/mae util/pos_embed.py get_2d_sincos_pos_embed (no class token): meshgrid(w, h), so the first
    half of the channels encodes the column."""
    coords = np.stack(np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32)), axis=0)
    coords = coords.reshape([2, 1, grid, grid])
    return np.concatenate([mae_1d_sincos(dim // 2, coords[0]), mae_1d_sincos(dim // 2, coords[1])], axis=1)


def sincos_pos_embed(grid, dim):
    return fixed_sincos_pos_embed((grid, grid), dim)[0, 1:]


@pytest.fixture(scope="module")
def mae():
    return build_mae("mae_vit_tiny", patch_size=8, embed_dim=64, depth=2, num_heads=2, decoder_embed_dim=32,
                     decoder_depth=1, decoder_num_heads=2).eval()


@pytest.mark.parametrize("size,visible", [(32, 4), (48, 9), (64, 16)])
def test_masking_invariants_at_each_size(mae, size, visible):
    length = (size // 8) ** 2
    assert mae.num_visible(length) == round(length * 0.25) == visible
    x = torch.randn(5, length, 7)
    noise = masking_noise(torch.arange(5), length)
    kept, mask, restore = mae.random_masking(x, noise)
    assert kept.shape == (5, visible, 7)
    assert torch.equal(mask.sum(1), torch.full((5,), float(length - visible)))
    # the kept tokens are exactly the unmasked positions, in increasing-noise order
    for i in range(5):
        unmasked = torch.nonzero(mask[i] == 0).flatten()
        assert set(unmasked.tolist()) == set(torch.argsort(noise[i])[:visible].tolist())
        torch.testing.assert_close(kept[i], x[i, torch.argsort(noise[i])[:visible]])
        # restore inverts the shuffle: shuffle[restore] is the identity
        assert torch.equal(torch.argsort(noise[i])[restore[i]], torch.arange(length))
    loss, pred, full_mask = mae(torch.randn(5, 3, size, size), noise)
    assert pred.shape == (5, length, 8 * 8 * 3) and torch.equal(full_mask, mask) and torch.isfinite(loss)


def test_position_embeddings_are_computed_for_the_grid():
    for grid in (6, 10, 14):
        table = sincos_pos_embed(grid, 64)
        assert table.shape == (grid * grid, 64)
    small = sincos_pos_embed(10, 64)
    interpolated = F.interpolate(sincos_pos_embed(14, 64).T.reshape(1, 64, 14, 14), size=(10, 10),
                                 mode="bicubic", align_corners=False).reshape(64, 100).T
    assert (small - interpolated).abs().max() > 0.05  # a fresh table, not a resampled 224 one
    for grid in (1, 4, 10, 14):  # the official table, value for value
        torch.testing.assert_close(sincos_pos_embed(grid, 64), torch.from_numpy(mae_2d_sincos(64, grid)).float(),
                                   rtol=0, atol=1e-6)


def test_masking_noise_is_uniform_and_keyed():
    noise = masking_noise(torch.arange(20000), 64)
    assert noise.min() >= 0 and noise.max() < 1
    assert abs(noise.mean().item() - 0.5) < 0.01 and abs(noise.var().item() - 1 / 12) < 0.005
    # each position is kept equally often across samples
    kept = torch.zeros(64)
    kept.scatter_add_(0, torch.argsort(noise, 1)[:, :16].flatten(), torch.ones(20000 * 16))
    assert (kept / 20000).sub(0.25).abs().max() < 0.02
    assert torch.equal(masking_noise(torch.tensor([7, 3]), 64), masking_noise(torch.tensor([3, 7]), 64).flip(0))


def test_rejects_sizes_off_the_patch_grid(mae):
    with pytest.raises(ValueError, match="not a multiple of the patch size 8"):
        mae(torch.randn(1, 3, 36, 36))
    with pytest.raises(ValueError, match="unknown MAE model"):
        build_mae("mae_vit_gigantic")


def test_patchify_round_trip():
    x = torch.randn(2, 3, 48, 48)
    assert patchify(x, 8).shape == (2, 36, 192)
    assert torch.equal(unpatchify(patchify(x, 8), 8), x)


def test_encoder_export_loads_into_timm_strictly(mae):
    state = encoder_state_dict(mae, 64)
    vit = timm.create_model("vit_tiny_patch16_224", img_size=64, patch_size=8, embed_dim=64, depth=2, num_heads=2,
                            num_classes=5)
    result = vit.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["head.bias", "head.weight"] and not result.unexpected_keys
    torch.testing.assert_close(vit.blocks[1].mlp.fc2.weight, mae.blocks[1].mlp.fc2.weight)
    # same features as the MAE encoder with nothing masked
    mae.mask_ratio = 0.0
    images = torch.randn(2, 3, 64, 64)
    latent, _, restore = mae.forward_encoder(images, masking_noise(torch.arange(2), 64))
    mae.mask_ratio = 0.75
    ours = torch.cat([latent[:, :1], torch.gather(latent[:, 1:], 1, restore[..., None].expand(-1, -1, 64))], 1)
    torch.testing.assert_close(vit.forward_features(images), ours, atol=1e-5, rtol=1e-5)
