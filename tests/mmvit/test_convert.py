"""Converter: every backbone tensor comes from the checkpoint (pos_embed resampled), wrong checkpoints raise."""
from tests.conftest import require_openmmlab

require_openmmlab("mmcv.ops")  # before anything imports mmengine / mmvit

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.weights import WeightsError, resample_pos_embed
from mmvit import ViT
from mmvit.convert import load_backbone_weights
from pretrain_mae.model import build_mae, encoder_state_dict

REPO = Path(__file__).resolve().parents[2]
DET_CONFIG = REPO / "configs/detection/cascade-mask-rcnn_vit-tiny_cpu_coco-mini.py"


def mae_encoder(tmp_path):
    mae = build_mae("mae_vit_tiny", patch_size=8, embed_dim=96, depth=4, num_heads=3)
    state = encoder_state_dict(mae, 64)  # 8x8 grid, as pre-trained at 64 px
    torch.save({"model": state}, tmp_path / "encoder.pth")
    return state


def backbone(**kwargs):
    return ViT(img_size=128, patch_size=8, embed_dim=96, depth=4, num_heads=3, window_size=4, global_blocks=(1, 3),
               use_rel_pos=True, **kwargs)


def test_every_backbone_weight_comes_from_the_checkpoint(tmp_path):
    source = mae_encoder(tmp_path)
    model = backbone()
    report = load_backbone_weights(model, tmp_path / "encoder.pth")
    state = model.state_dict()
    assert sorted(report["unexpected"]) == ["cls_token", "norm.bias", "norm.weight"]
    assert all("rel_pos" in k for k in report["missing"]) and len(report["missing"]) == 8
    for name, tensor in state.items():
        if "rel_pos" in name:
            continue
        expected = resample_pos_embed(source[name], (16, 16), 1) if name == "pos_embed" else source[name]
        torch.testing.assert_close(tensor, expected, msg=name)
    assert state["pos_embed"].shape == (1, 1 + 16 * 16, 96)  # 128 px / patch 8


def test_wrong_checkpoints_raise_naming_the_keys(tmp_path):
    source = mae_encoder(tmp_path)
    with pytest.raises(WeightsError, match="blocks.0.mlp.fc1.weight"):  # a key the backbone needs is absent
        load_backbone_weights(backbone(), {"model": {k: v for k, v in source.items() if k != "blocks.0.mlp.fc1.weight"}})
    with pytest.raises(WeightsError, match="blocks.0.attn.qkv.weight: checkpoint"):  # another width
        load_backbone_weights(backbone(), {"model": {**source, "blocks.0.attn.qkv.weight": torch.zeros(3, 96)}})
    with pytest.raises(WeightsError, match="blocks.9.norm1.weight"):  # a deeper model's checkpoint
        load_backbone_weights(backbone(), {"model": {**source, "blocks.9.norm1.weight": torch.ones(96)}})


def test_cli_converts_for_a_config(tmp_path):
    """The converted file holds the source's tensors (pos_embed on the config's 16 x 16 grid, timm's bicubic
    resampling) under the backbone's keys, and fresh relative-position tables."""
    from timm.layers import resample_abs_pos_embed

    source = mae_encoder(tmp_path)
    done = subprocess.run([sys.executable, "-m", "mmvit.convert", str(DET_CONFIG), str(tmp_path / "encoder.pth"),
                           str(tmp_path / "backbone.pth")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    converted = torch.load(tmp_path / "backbone.pth", weights_only=True)["model"]
    assert converted.keys() == backbone().state_dict().keys()
    assert set(converted) - set(source) == {k for k in converted if "rel_pos" in k} and len(converted) > 8
    for name, tensor in converted.items():
        if name == "pos_embed":
            expected = resample_abs_pos_embed(source[name], [16, 16], [8, 8], num_prefix_tokens=1)
        elif "rel_pos" in name:
            assert torch.all(tensor == 0), name  # initialised by the backbone, not taken from anywhere
            continue
        else:
            expected = source[name]
        torch.testing.assert_close(tensor, expected, rtol=0, atol=0, msg=name)


def test_backbone_weights_by_hub_tag_from_an_offline_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from tests.engine.test_hub import offline_cache

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = mae_encoder(tmp_path)
    offline_cache(tmp_path / "hub", "timm/vit_micro_patch8.mae", source)
    by_tag, by_file = backbone(pretrained="hf-hub:timm/vit_micro_patch8.mae"), backbone()
    by_tag.init_weights()
    load_backbone_weights(by_file, tmp_path / "encoder.pth")
    for name, tensor in by_file.state_dict().items():
        if "rel_pos" not in name:
            torch.testing.assert_close(by_tag.state_dict()[name], tensor, msg=name)
