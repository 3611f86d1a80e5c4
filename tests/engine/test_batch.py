"""One config for any number of devices: the recipe's global batch gives the accumulation for the world size, and
with it the same samples and the same lr per update, and fold 2 below the final size whenever it allows."""
import math
from pathlib import Path

import pytest

from curriculum import StepPlan, build_schedule
from engine.batch import resolve_accumulation
from engine.config import load_config
from engine.lr import curriculum_lr, scaled_lr
from finetune.config import FinetuneConfig
from pretrain_mae.config import PretrainConfig

REPO = Path(__file__).resolve().parents[2]
IMAGENET = 1_281_167


def updates(config: Path, cls, world: int, family: str) -> tuple[list, list[int]]:
    """Every optimizer update of ``config`` on ``world`` simulated devices as ``(stage size, samples, lr)``, read
    as the training loop reads them (an update's lr is that of its first micro-step), and each stage's fold."""
    cfg = load_config(cls, config)
    accum = resolve_accumulation(cfg.optim, world, None)
    schedule = build_schedule(cfg.schedule, 16, None, default_family=family, accum_iter=accum)
    plan = StepPlan(schedule, IMAGENET, cfg.optim.batch_size, world, accum)
    warmup = schedule.warmup if schedule.warmup is not None else cfg.optim.warmup_epochs
    out = []
    for stage in plan.stages:
        base = scaled_lr(cfg.optim.blr, stage.global_batch) * stage.lr_scale
        for first in range(stage.first_step, stage.end_step, stage.accum):
            lr = curriculum_lr(schedule, plan.progress(first), base, warmup, cfg.optim.min_lr)
            out.append((stage.size, stage.global_batch, lr))
    return out, [(stage.size, stage.fold, stage.accum) for stage in plan.stages]


@pytest.mark.parametrize("config, cls, family, global_batch, worlds", [
    ("configs/pretrain/mae_vit_base_1600ep_efficienttrain.yaml", PretrainConfig, "mae_vit", 4096, (1, 8, 64)),
    ("configs/pretrain/mae_vit_large_800ep_efficienttrainpp.yaml", PretrainConfig, "mae_vit", 4096, (1, 8, 64)),
    ("configs/finetune/deit_small_scratch_efficienttrainpp.yaml", FinetuneConfig, "deit_small", 4096, (1, 8, 32)),
])
def test_one_config_gives_the_same_updates_on_1_8_and_64_devices(config, cls, family, global_batch, worlds):
    runs = {world: updates(REPO / config, cls, world, family) for world in worlds}
    reference, _ = runs[1]
    assert {samples for _, samples, _ in reference} == {global_batch}
    for world, (got, stages) in runs.items():
        # the same updates: count (within a stage's rounding to whole steps), samples and lr, update by update
        assert abs(len(got) - len(reference)) <= len(stages), (world, len(got), len(reference))
        peak = max(lr for _, _, lr in reference)  # an update's lr within 0.2 % of the peak lr
        for k in range(0, min(len(got), len(reference)), 997):
            assert got[k][:2] == reference[k][:2] and got[k][2] == pytest.approx(reference[k][2], abs=2e-3 * peak)
        final = max(size for size, _, _ in stages)
        for size, fold, accum in stages:
            per_device = load_config(cls, REPO / config).optim.batch_size
            expected_fold = 2 if size < final and global_batch // (per_device * world) >= 2 else 1
            assert fold == expected_fold, (world, size, fold)
            assert accum * fold == global_batch // (per_device * world)


def test_the_accumulation_follows_the_world_size_and_is_printed():
    cfg = load_config(PretrainConfig, REPO / "configs/pretrain/mae_vit_base_1600ep_efficienttrain.yaml")
    notes = []
    assert resolve_accumulation(cfg.optim, 8, notes.append) == 8 and cfg.optim.accum_iter == 8
    assert notes == ["global batch 4096 = 64 per device x 8 devices x 8 accumulation steps"]


@pytest.mark.parametrize("overrides, world, message", [
    (["optim.batch_size=48"], 8, r"optim.global_batch=4096 is not a multiple of optim.batch_size \(48\) x 8 devices "
                                 r"= 384; batch sizes per device that fit: 32, 16, 8"),
    (["optim.accum_iter=4"], 8, r"optim.accum_iter=4 contradicts optim.global_batch=4096 on 8 devices with "
                                r"optim.batch_size=64 \(that needs 8\)"),
    ([], 3, r"not a multiple of optim.batch_size \(64\) x 3 devices = 192"),
    (["optim.global_batch=0"], 8, r"optim.global_batch must be >= 1 \(or null\), got 0"),
    (["optim.global_batch=null", "optim.accum_iter=0"], 8, r"optim.accum_iter must be >= 1, got 0"),
])
def test_a_combination_that_cannot_work_is_refused_naming_the_numbers(overrides, world, message):
    cfg = load_config(PretrainConfig, REPO / "configs/pretrain/mae_vit_base_1600ep_efficienttrain.yaml", overrides)
    with pytest.raises(ValueError, match=message):
        resolve_accumulation(cfg.optim, world, None)


def test_without_a_global_batch_the_accumulation_is_as_given():
    cfg = load_config(PretrainConfig, None, ["optim.accum_iter=3"])
    assert resolve_accumulation(cfg.optim, 8, None) == 3 and cfg.optim.global_batch is None
    assert resolve_accumulation(load_config(PretrainConfig).optim, 8, None) == 1
    assert math.isclose(scaled_lr(1.5e-4, 4096), 2.4e-3)
