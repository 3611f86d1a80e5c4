"""The cost model reproduces the papers' computation savings and agrees with a direct count."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from curriculum.cost import MODELS, ViTCost, cost_report
from curriculum.presets import make_preset


@pytest.mark.parametrize("model,paper", [("mae_vit_base", 1.54), ("mae_vit_large", 1.53), ("deit_small", 1.56),
                                         ("deit_tiny", 1.59)])
def test_efficienttrain_speedups_match_paper(model, paper):
    """EfficientTrain Table 10 (MAE ViT-B/L) and Table 6 (DeiT-S/T)."""
    report = cost_report(make_preset("efficienttrain", 300), MODELS[model])
    assert report.speedup == pytest.approx(paper, abs=0.01)
    assert sum(report.stage_share) == pytest.approx(1.0)


def test_flop_count_matches_torch_counter():
    """Independent check: torch's FLOP counter on a timm ViT equals 2x our multiply-accumulates."""
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_small_patch16_224", img_size=64, num_classes=0, global_pool="token")
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 64, 64))
    ours = ViTCost(12, 384)(64)
    assert counter.get_total_flops() == pytest.approx(2 * ours, rel=0.01)


def test_baseline_is_one_and_replay_costs_nothing():
    flops = MODELS["deit_small"]
    assert cost_report(make_preset("baseline", 100), flops).speedup == pytest.approx(1.0)
    plain = cost_report(make_preset("efficienttrain++", 100), flops)
    replay = cost_report(make_preset("efficienttrain++", 100, replay=True), flops)
    assert replay.relative_computation == pytest.approx(plain.relative_computation)  # same steps, less loading
    pixels = lambda b: float(b * b)  # noqa: E731 - the official equal-compute rule counts pixels
    for schedule in (make_preset("efficienttrain++", 100), make_preset("efficienttrain++", 100, replay=True)):
        assert cost_report(schedule, pixels).stage_share == pytest.approx([0.1] * 10)


def test_default_baseline_is_the_budget_for_efficienttrain_pp():
    s = make_preset("efficienttrain++", 200, family="deit_small")
    assert cost_report(s, MODELS["deit_small"]).baseline_epochs == pytest.approx(200)
    assert cost_report(make_preset("efficienttrain", 300), MODELS["deit_small"]).baseline_epochs == 300
    versus_300 = cost_report(s, MODELS["deit_small"], baseline_epochs=300)
    assert versus_300.pixel_speedup == pytest.approx(1.5) and 1.45 < versus_300.speedup < 1.6
    with pytest.raises(ValueError, match="baseline epochs must be positive"):
        cost_report(s, MODELS["deit_small"], baseline_epochs=0)


def test_pixel_model_is_the_area_ratio():
    report = cost_report(make_preset("efficienttrain", 300), lambda b: float(b * b))
    expected = 0.6 * (160 / 224) ** 2 + 0.2 * (192 / 224) ** 2 + 0.2
    assert report.relative_computation == pytest.approx(expected)
    with pytest.raises(ValueError, match="smaller than the patch"):
        ViTCost(12, 384)(8)
