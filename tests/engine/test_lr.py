"""The learning rate as a function of training progress, against the official per-stage EfficientTrain++ runs."""
import math

import numpy as np
import pytest

from curriculum import make_preset
from engine.lr import cosine_lr, curriculum_lr

DEIT_RES = [96] * 2 + [160] * 4 + [192] * 2 + [224] * 2


def official_lr_at_stage_start(budget: int, i: int, base: float = 1.0, min_lr: float = 1e-6, niter: int = 50):
    """_ET_pp_main_deitS.py + main_buffer.py + utils_buffer.py, re-derived independently: stage i runs
    `--epochs int(E (224/B)^2) --warmup_epochs int(0.2 E (224/B)^2)` with timm-style cosine_scheduler, resuming from
    the previous stage's end epoch int(rp_epoch / 10 * i) rescaled by (B_prev / B)^2 (auto_load_model)."""
    ratio = lambda b: 224 * 224 / (b * b)  # noqa: E731 - epoch_scale_ratio
    rp_epoch = int(budget * ratio(DEIT_RES[i]))
    warmup = int(0.2 * budget * ratio(DEIT_RES[i]))
    start = 0
    if i > 0:
        previous_end = int(int(budget * ratio(DEIT_RES[i - 1])) / 10 * i)
        start = round(previous_end * DEIT_RES[i - 1] ** 2 / DEIT_RES[i] ** 2)
    warmup_part = np.linspace(0, base, warmup * niter)
    iters = np.arange(rp_epoch * niter - warmup * niter)
    cosine = min_lr + 0.5 * (base - min_lr) * (1 + np.cos(math.pi * iters / len(iters)))
    return float(np.concatenate([warmup_part, cosine])[start * niter])


@pytest.mark.parametrize("budget", [100, 200, 300])
def test_efficienttrain_pp_lr_follows_the_official_runs(budget):
    schedule = make_preset("efficienttrain++", budget, family="deit_small")
    for i, stage in enumerate(schedule.stages):
        ours = curriculum_lr(schedule, schedule.progress(stage.start * schedule.epochs), 1.0, schedule.warmup, 1e-6)
        assert ours == pytest.approx(official_lr_at_stage_start(budget, i), abs=0.05), (i, ours)
    first_full = schedule.stages[8].start * schedule.epochs  # first step at B = 224
    ours = curriculum_lr(schedule, schedule.progress(first_full), 1.0, schedule.warmup, 1e-6)
    by_epochs = cosine_lr(first_full, 1.0, schedule.epochs, schedule.warmup)  # what epoch-based progress gives
    assert ours == pytest.approx(official_lr_at_stage_start(budget, 8), abs=0.05)
    assert abs(by_epochs - official_lr_at_stage_start(budget, 8)) > 0.05


def test_cosine_lr_formula():
    assert cosine_lr(0, 2.0, 100, 10) == 0 and cosine_lr(5, 2.0, 100, 10) == pytest.approx(1.0)
    assert cosine_lr(10, 2.0, 100, 10) == pytest.approx(2.0)
    assert cosine_lr(55, 2.0, 100, 10, min_lr=0.1) == pytest.approx(0.1 + 1.9 * 0.5)  # half-way through cosine
    assert cosine_lr(100, 2.0, 100, 10, min_lr=0.1) == pytest.approx(0.1)
    epochs = make_preset("efficienttrain", 300)
    assert curriculum_lr(epochs, 0.5, 1.0, 20) == pytest.approx(cosine_lr(150, 1.0, 300, 20))
