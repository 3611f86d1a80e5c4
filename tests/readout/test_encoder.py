"""Encoders from whatever names them: our encoder.pth and pre-training checkpoints (their recorded architecture),
a timm name, a random initialisation; a file without an architecture and no name is one clear error."""
import pytest
import timm
import torch

from readout.config import EncoderConfig
from readout.encoder import build_encoder


def test_encoder_file_and_training_checkpoint_give_the_same_encoder(pretrained_mae):
    notes = []
    from_encoder = build_encoder(EncoderConfig(pretrained=str(pretrained_mae / "encoder.pth")), 64, notes.append)
    from_checkpoint = build_encoder(EncoderConfig(pretrained=str(pretrained_mae / "checkpoint-last.pth")), 64)
    exported = torch.load(pretrained_mae / "encoder.pth", weights_only=True)["model"]
    assert from_encoder.state_dict().keys() == from_checkpoint.state_dict().keys() == exported.keys()
    for key, value in exported.items():
        assert torch.equal(from_encoder.state_dict()[key], value), key
        if key != "pos_embed":  # the training checkpoint keeps MAE's buffer of the same fixed sin-cos table
            assert torch.equal(from_checkpoint.state_dict()[key], value), key
    torch.testing.assert_close(from_checkpoint.pos_embed, from_encoder.pos_embed)
    assert from_encoder.embed_dim == 96 and len(from_encoder.blocks) == 4
    assert from_encoder.patch_embed.patch_size == (8, 8)
    assert not from_encoder.training and not any(p.requires_grad for p in from_encoder.parameters())
    assert notes == [f"encoder weights from {pretrained_mae / 'encoder.pth'}: {len(exported)} tensors loaded, "
                     "pos_embed kept at its grid, initialised (not in the source): none, unused: none"]


def test_official_mae_layout_with_decoder_loads_the_encoder(tmp_path):
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2)
    state = {**vit.state_dict(), "decoder_embed.weight": torch.zeros(4, 64), "mask_token": torch.zeros(1, 1, 4)}
    torch.save({"model": state}, tmp_path / "mae_pretrain.pth")  # MAE's main_pretrain.py checkpoint layout
    encoder = build_encoder(EncoderConfig(name="vit_tiny_patch16_224", pretrained=str(tmp_path / "mae_pretrain.pth"),
                                          patch_size=8, embed_dim=64, depth=2, num_heads=2), 32)
    for key, value in vit.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value), key


def test_weights_without_an_architecture_need_a_name(tmp_path):
    torch.save({"model": {"cls_token": torch.zeros(1, 1, 8)}}, tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="model.name is required"):
        build_encoder(EncoderConfig(pretrained=str(tmp_path / "plain.pth")), 32)
    with pytest.raises(ValueError, match="model.name='no_such_model'"):
        build_encoder(EncoderConfig(name="no_such_model"), 32)
