"""A schedule in optimisation steps: every stage gets its share of steps, or the schedule is refused."""
import pytest

from curriculum import Schedule, Stage, StepPlan, ViTCost, cost_report, make_preset


def test_steps_follow_each_stage_share():
    schedule = make_preset("efficienttrain", 3, final_size=64, round_to=8)  # stages of 1.8, 0.6, 0.6 epochs
    plan = StepPlan(schedule, dataset_size=100, batch_size=10)
    assert [s.steps for s in plan.stages] == [18, 6, 6] and plan.total_steps == 30
    assert [s.size for s in plan.stages] == [48, 56, 64]  # the final size gets its steps (it had no epoch before)
    assert plan.epoch_end_steps() == [10, 20, 30]
    assert [plan.stage_at(t).index for t in (0, 17, 18, 23, 24, 29)] == [0, 0, 1, 1, 2, 2]
    assert plan.epoch_at(18) == pytest.approx(1.8) and plan.epoch_at(30) == 3
    with pytest.raises(ValueError, match="outside"):
        plan.stage_at(30)


def test_a_stage_without_a_step_is_refused_by_name():
    schedule = make_preset("efficienttrain++", 5, final_size=64, round_to=8)
    with pytest.raises(ValueError, match=r"stage \d+ \(B=\d+, epochs .*\) would get no training step"):
        StepPlan(schedule, dataset_size=20, batch_size=32)


def test_batch_scale_replay_and_stream_offsets():
    schedule = Schedule("r", 2, (Stage(0.0, 0.5, 32, batch_scale=2.0, replay=4, buffer_batches=2),
                                 Stage(0.5, 1.0, 64)))
    plan = StepPlan(schedule, dataset_size=64, batch_size=8, world_size=2)
    first, second = plan.stages
    assert (first.batch, first.fresh, first.steps) == (16, 4, 2)  # 64 samples / (16 x 2 devices)
    assert (second.batch, second.fresh, second.steps) == (8, 8, 4)
    assert [plan.stream_offset(t) for t in range(6)] == [0, 8, 16, 32, 48, 64]  # fresh x world per step
    assert plan.total_samples == 80  # replay: the loader reads 16 samples in stage 0 instead of 64
    with pytest.raises(ValueError, match="not divisible by its replay factor 4"):
        StepPlan(schedule, dataset_size=64, batch_size=3)


def test_progress_and_values_per_step():
    schedule = make_preset("efficienttrain++", 10, final_size=64, round_to=8, family="mae_vit")
    plan = StepPlan(schedule, dataset_size=640, batch_size=32)
    progress = [plan.progress(t) for t in range(plan.total_steps + 1)]
    assert progress == sorted(progress) and progress[0] == 0 and progress[-1] == 1
    for stage in plan.stages:  # each stage starts where its tenth of the budget starts
        assert plan.progress(stage.first_step) == pytest.approx(stage.index / 10)
        assert plan.values(stage.first_step).size == stage.size
        assert plan.values(stage.end_step - 1).magnitude == pytest.approx(stage.index * 1.0)


@pytest.mark.parametrize("preset,family", [("efficienttrain", None), ("efficienttrain++", "deit_small")])
def test_computation_per_step_adds_up_to_the_cost_model(preset, family):
    """The loop's running computation, summed step by step, ends where ``cost_report`` puts the whole schedule
    (the two differ only by the rounding of stages to whole steps) and grows by ``batch x flops(B) / flops(final)``
    per step."""
    extra = {"family": family} if family else {}
    schedule = make_preset(preset, 12, final_size=64, round_to=8, **extra)
    plan = StepPlan(schedule, dataset_size=1000, batch_size=16)
    flops = ViTCost(4, 96, 8)
    report = cost_report(schedule, flops)
    assert plan.computation(0, flops) == 0
    assert plan.computation(plan.total_steps, flops) == pytest.approx(
        report.relative_computation * report.baseline_epochs, rel=0.01)
    stage = plan.stages[1]
    step = stage.first_step + 1
    delta = plan.computation(step + 1, flops) - plan.computation(step, flops)
    assert delta == pytest.approx(16 * flops(stage.size) / flops(64) / 1000)
    baseline = StepPlan(make_preset("baseline", 3, final_size=64), dataset_size=1000, batch_size=10)
    assert baseline.computation(150, flops) == pytest.approx(1.5)  # the baseline: computation = epochs done


def test_a_folded_stage_runs_fewer_larger_steps_over_the_same_samples():
    plain = Schedule("p", 2, (Stage(0.0, 0.5, 32), Stage(0.5, 1.0, 64)))
    folded = Schedule("f", 2, (Stage(0.0, 0.5, 32, fold=2), Stage(0.5, 1.0, 64)))
    a = StepPlan(plain, dataset_size=64, batch_size=8, accum_iter=2)
    b = StepPlan(folded, dataset_size=64, batch_size=8, accum_iter=2)
    assert [(s.batch, s.steps, s.fold, s.accum, s.global_batch) for s in a.stages] == [(8, 8, 1, 2, 16)] * 2
    assert [(s.batch, s.steps, s.fold, s.accum, s.global_batch) for s in b.stages] == [(16, 4, 2, 1, 16),
                                                                                       (8, 8, 1, 2, 16)]
    assert a.total_samples == b.total_samples == 128
    assert [b.stream_offset(t) for t in range(4)] == [a.stream_offset(2 * t) for t in range(4)]  # the same samples
    assert [b.progress(t) for t in range(5)] == pytest.approx([a.progress(2 * t) for t in range(5)])
    assert "fold" in b.table()
    with pytest.raises(ValueError, match=r"schedule.fold=2 .* optim.accum_iter \(1\) must be a multiple of it"):
        StepPlan(folded, dataset_size=64, batch_size=8)


def test_fold_is_a_positive_int_and_never_replays():
    with pytest.raises(ValueError, match="fold must be an int >= 1, got 0"):
        Stage(0.0, 1.0, 32, fold=0)
    with pytest.raises(ValueError, match=r"cannot both fold \(2\) and replay \(2\)"):
        Stage(0.0, 1.0, 32, fold=2, replay=2, buffer_batches=4)
