"""Every shipped pre-training config loads and builds its model geometry and schedule."""
from pathlib import Path

import pytest

from curriculum import build_schedule, cost_report
from engine.config import load_config
from pretrain_mae.config import PretrainConfig
from pretrain_mae.model import MAE_PRESETS, mae_cost
from tests.conftest import mae_vit_macs, schedule_speedup

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "pretrain").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds(path):
    cfg = load_config(PretrainConfig, path)
    arch = MAE_PRESETS[cfg.model.name]
    patch = cfg.model.patch_size or arch.patch_size
    schedule = build_schedule(cfg.schedule, patch, None, default_family="mae_vit")
    assert all(stage.size % patch == 0 for stage in schedule.stages)
    if "vit_base" in path.stem and "efficienttrain" in path.stem:
        cost = mae_cost(arch, cfg.model.mask_ratio)
        epochs = int(path.stem.split("_")[3].removesuffix("ep"))
        report = cost_report(schedule, cost, baseline_epochs=epochs)
        macs = lambda size: mae_vit_macs(size, arch.patch_size, arch.depth, arch.embed_dim,  # noqa: E731
                                         arch.decoder_depth, arch.decoder_embed_dim, cfg.model.mask_ratio)
        assert report.speedup == pytest.approx(schedule_speedup(schedule, macs, epochs), rel=1e-9)
        if "pp" not in path.stem:  # EfficientTrain Table 10: 1.54x for MAE ViT-B, to the paper's two decimals
            assert round(report.speedup, 2) == 1.54, report.summary()
        assert str(round(report.speedup, 2)) in path.read_text()  # the config states its speedup


def test_all_sizes_and_schedules_are_shipped():
    names = {p.stem for p in CONFIGS}
    for model in ("base", "large"):
        for epochs in (800, 1600):
            for preset in ("baseline", "efficienttrain", "efficienttrainpp"):
                assert f"mae_vit_{model}_{epochs}ep_{preset}" in names
