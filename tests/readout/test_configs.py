"""The readout configs against MAE's published linear-probe recipe (facebookresearch/mae FINETUNE.md, "Linear
Probing": 4 nodes x 8 GPUs x 512 = 16384, --blr 0.1, --weight_decay 0.0, --epochs 90 (ViT-L: 50), --cls_token;
main_linprobe.py: --warmup_epochs 10, --min_lr 0)."""
from pathlib import Path

import pytest

from engine.batch import resolve_accumulation
from engine.config import load_config
from engine.lr import scaled_lr
from readout.config import KNNConfig, ProbeConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "readout"


@pytest.mark.parametrize("name, model, epochs", [("linprobe_mae_vit_base_in1k.yaml", "vit_base_patch16_224", 90),
                                                 ("linprobe_mae_vit_large_in1k.yaml", "vit_large_patch16_224", 50)])
def test_imagenet_probes_are_maes_recipe_on_any_number_of_gpus(name, model, epochs):
    cfg = load_config(ProbeConfig, CONFIGS / name)
    assert (cfg.model.name, cfg.model.img_size, cfg.pool, cfg.mode, cfg.epochs) == (model, 224, "cls", "protocol",
                                                                                    epochs)
    o = cfg.optim
    assert (o.blr, o.weight_decay, o.warmup_epochs, o.min_lr, o.momentum, o.trust_coefficient) == (
        0.1, 0.0, 10, 0.0, 0.9, 0.001)
    assert scaled_lr(o.blr, o.global_batch) == 6.4 and cfg.data.crop_pct == 224 / 256
    for gpus, accum in ((32, 1), (8, 4), (1, 32)):  # MAE's 32 GPUs, one node, one GPU: the same 16384 per update
        o.accum_iter = None
        assert resolve_accumulation(o, gpus, None) == accum and o.batch_size * gpus * accum == 16384


@pytest.mark.parametrize("name", ["linprobe_cpu.yaml", "knn_cpu.yaml", "knn_in1k.yaml"])
def test_other_configs_load(name):
    cfg = load_config(ProbeConfig if name.startswith("linprobe") else KNNConfig, CONFIGS / name)
    assert cfg.model.pretrained.endswith("encoder.pth")
    if name.startswith("knn"):
        assert (cfg.k, cfg.tau, cfg.pools) == ([20, 200], 0.07, ["cls", "avg"])
    else:
        assert cfg.mode == "cached" and scaled_lr(cfg.optim.blr, cfg.optim.global_batch) == 6.4
