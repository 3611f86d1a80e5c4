"""Fine-tuning: layer-decay groups, a pretrain_mae encoder loading, curriculum magnitudes, resume."""
import json

import pytest
import torch

from engine.config import load_config
from finetune.config import DEMO_CONFIG, FinetuneConfig
from finetune.train import build_model, finetune, train_transform
from timm.optim import create_optimizer_v2


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_layer_decay_lr_ratios():
    cfg = load_config(FinetuneConfig, DEMO_CONFIG, ["model.depth=4"])
    model = build_model(cfg, 10, 64)
    optimizer = create_optimizer_v2(model, "adamw", lr=1.0, weight_decay=0.05, layer_decay=0.65)
    scale = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            scale[id(p)] = group["lr_scale"]
    names = dict(model.named_parameters())
    depth = 4  # layers: 0 = embeddings, 1..4 = blocks, 5 = head
    assert scale[id(names["head.weight"])] == pytest.approx(1.0)
    assert scale[id(names["pos_embed"])] == pytest.approx(0.65 ** (depth + 1))
    for i in range(depth):
        assert scale[id(names[f"blocks.{i}.attn.qkv.weight"])] == pytest.approx(0.65 ** (depth - i))


def test_randaugment_follows_the_schedule_magnitude():
    cfg = load_config(FinetuneConfig, DEMO_CONFIG)
    ops = [t for t in train_transform(cfg, 64, 3.6).transforms if type(t).__name__ == "RandAugment"][0].ops
    assert {op.magnitude for op in ops} == {3.6}
    assert not [t for t in train_transform(cfg, 64, 0.0).transforms if type(t).__name__ == "RandAugment"]


def test_pretrained_mae_encoder_loads_and_resume_continues(tmp_path):
    from pretrain_mae.model import build_mae, encoder_state_dict
    mae = build_mae("mae_vit_tiny", patch_size=8, embed_dim=64, depth=2, num_heads=2)
    torch.save({"model": encoder_state_dict(mae, 64)}, tmp_path / "encoder.pth")
    overrides = [f"model.pretrained={tmp_path / 'encoder.pth'}", f"run.output_dir={tmp_path / 'ft'}",
                 "run.progress=false", "data.num_workers=0", "data.synthetic_length=64"]
    cfg = load_config(FinetuneConfig, DEMO_CONFIG, overrides)
    model = build_model(cfg, 10, 64)
    torch.testing.assert_close(model.blocks[0].mlp.fc1.weight, mae.blocks[0].mlp.fc1.weight)
    finetune(load_config(FinetuneConfig, DEMO_CONFIG, overrides + ["schedule.epochs=3"]))
    with pytest.raises(RuntimeError):  # a finished 3-epoch run cannot silently grow into a 5-epoch one
        finetune(load_config(FinetuneConfig, DEMO_CONFIG, overrides + ["schedule.epochs=5"]))
