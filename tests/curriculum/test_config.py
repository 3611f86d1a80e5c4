"""The ``schedule:`` config section and the schedule it builds."""
import pytest

from curriculum import ScheduleConfig, build_schedule, make_preset


def test_rounds_to_the_patch_and_reports_each_rounding():
    notes = []
    cfg = ScheduleConfig(final_size=64, epochs=10)
    assert [s.size for s in build_schedule(cfg, 8, notes.append).stages] == [48, 56, 64]
    assert notes == ["schedule sizes rounded to multiples of the patch size 8: 46 -> 48, 55 -> 56"]
    notes.clear()
    schedule = build_schedule(ScheduleConfig(preset="baseline", final_size=60, epochs=10), 8, notes.append)
    assert schedule.final_size == 64 and notes == ["schedule sizes rounded to multiples of the patch size 8: 60 -> 64"]


def test_efficienttrain_pp_budget_family_and_warmup_override():
    cfg = ScheduleConfig(preset="efficienttrain++", epochs=200, final_size=224, family="deit_small")
    schedule = build_schedule(cfg, 16, None)
    assert schedule == make_preset("efficienttrain++", 200, 224, round_to=16, family="deit_small")
    assert build_schedule(ScheduleConfig(preset="efficienttrain++", epochs=200), 16, None,
                          default_family="convnext").stages[0].size == 160
    cfg.warmup = 5.0
    assert build_schedule(cfg, 16, None).warmup == 5.0


def test_schedule_file_keeps_its_stages_and_takes_the_budget(tmp_path):
    path = tmp_path / "s.yaml"
    make_preset("efficienttrain++", 100, family="deit_small").save(path)
    schedule = build_schedule(ScheduleConfig(file=str(path), epochs=300), 16, None)
    assert schedule.budget == pytest.approx(300) and [s.size for s in schedule.stages][0] == 96


@pytest.mark.parametrize("cfg,match", [
    (ScheduleConfig(preset="efficienttrain", replay=True), "efficienttrain\\+\\+ options"),
    (ScheduleConfig(preset="baseline", family="swin"), "efficienttrain\\+\\+ options"),
    (ScheduleConfig(preset="efficienttrain++", family="vgg"), "unknown EfficientTrain\\+\\+ family 'vgg'"),
    (ScheduleConfig(preset="efficienttrain++", family="convnext", replay=True), "no replay-buffer script"),
    (ScheduleConfig(preset="efficienttrain++", epochs=0), "schedule.epochs must be positive"),
])
def test_bad_schedule_configs(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_schedule(cfg, 16, None)


def test_fold_applies_below_the_final_size_and_survives_a_round_trip():
    schedule = build_schedule(ScheduleConfig(preset="efficienttrain++", epochs=200, family="mae_vit", fold=2), 16, None)
    assert [s.fold for s in schedule.stages] == [2] * 6 + [1] * 4  # 160 px folded, 224 px as it was
    plain = build_schedule(ScheduleConfig(preset="efficienttrain++", epochs=200, family="mae_vit"), 16, None)
    assert [s.size for s in schedule.stages] == [s.size for s in plain.stages] and schedule != plain
    assert type(schedule).from_dict(schedule.to_dict()) == schedule
    with pytest.raises(ValueError, match="schedule.fold must be an int >= 1, got 0"):
        build_schedule(ScheduleConfig(fold=0), 16, None)
    with pytest.raises(ValueError, match=r"schedule.fold=2 folds the stages below the final size \(224\); this "
                                         r"schedule has none"):
        build_schedule(ScheduleConfig(preset="baseline", fold=2), 16, None)
