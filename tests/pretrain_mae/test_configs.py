"""Every shipped pre-training config loads and builds its model geometry and schedule."""
from pathlib import Path

import pytest

from curriculum import cost_report
from engine.config import build_schedule, load_config
from pretrain_mae.config import PretrainConfig
from pretrain_mae.model import MAE_PRESETS
from pretrain_mae.train import _model_cost
from pretrain_mae.model import MaskedAutoencoderViT

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "pretrain").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds(path):
    cfg = load_config(PretrainConfig, path)
    arch = MAE_PRESETS[cfg.model.name]
    patch = cfg.model.patch_size or arch.patch_size
    schedule = build_schedule(cfg.schedule, patch)
    assert all(stage.size % patch == 0 for stage in schedule.stages)
    if "efficienttrain" in path.stem and "vit_base" in path.stem and "pp" not in path.stem:
        model = MaskedAutoencoderViT.__new__(MaskedAutoencoderViT)  # geometry only, no weights
        model.arch, model.mask_ratio = arch, cfg.model.mask_ratio
        assert cost_report(schedule, _model_cost(model)).speedup == pytest.approx(1.54, abs=0.01)


def test_all_sizes_and_schedules_are_shipped():
    names = {p.stem for p in CONFIGS}
    for model in ("base", "large"):
        for epochs in (800, 1600):
            for preset in ("baseline", "efficienttrain", "efficienttrainpp"):
                assert f"mae_vit_{model}_{epochs}ep_{preset}" in names
