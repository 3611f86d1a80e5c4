"""Schedules as data: lookup, validation, scaling and (de)serialisation."""
import pytest

from curriculum.schedule import Schedule, Stage


def two_stage(epochs=10):
    return Schedule("two", epochs, (Stage(0.0, 0.5, 96, (0, 4)), Stage(0.5, 1.0, 128, (4, 8), batch_scale=0.5)))


def test_lookup_by_epoch_and_fraction():
    s = two_stage()
    assert [s.at(e).size for e in range(10)] == [96] * 5 + [128] * 5
    assert s.at(2.5).magnitude == pytest.approx(2.0)  # linear inside the stage: 0 + 4 * (0.25 / 0.5)
    assert s.at(7.5).magnitude == pytest.approx(6.0)
    assert s.at(10).stage == 1 and s.at(10).batch_scale == 0.5
    assert s.stage_span(0) == (0, 5) and s.stage_span(1) == (5, 10)
    with pytest.raises(ValueError, match="outside"):
        s.at(11)


def test_scaling_to_other_epoch_counts_keeps_fractions():
    s = two_stage().with_epochs(7)
    assert [s.at(e).size for e in range(7)] == [96] * 4 + [128] * 3  # boundary at 3.5: epochs 0..3 start below it


@pytest.mark.parametrize("stages,match", [
    ((Stage(0.0, 0.6, 96), Stage(0.5, 1.0, 128)), "overlap or are unsorted"),
    ((Stage(0.5, 1.0, 96), Stage(0.0, 0.5, 128)), "first stage must start at 0"),
    ((Stage(0.0, 0.4, 96), Stage(0.5, 1.0, 128)), "gap"),
    ((Stage(0.0, 0.5, 96),), "last stage must end at 1"),
    ((), "at least one stage"),
])
def test_invalid_stage_lists(stages, match):
    with pytest.raises(ValueError, match=match):
        Schedule("bad", 10, stages)


@pytest.mark.parametrize("kwargs,match", [
    (dict(start=0.0, end=1.0, size=0), "positive int"),
    (dict(start=0.5, end=0.5, size=64), "start < end"),
    (dict(start=0.0, end=1.0, size=64, magnitude=(-1, 2)), "non-negative"),
    (dict(start=0.0, end=1.0, size=64, batch_scale=0), "positive"),
    (dict(start=0.0, end=1.0, size=64, replay=0), "replay"),
])
def test_invalid_stage(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Stage(**kwargs)


@pytest.mark.parametrize("epochs", [0, -5, float("inf"), "3", True])
def test_invalid_epochs(epochs):
    with pytest.raises(ValueError, match="epochs must be a positive number"):
        two_stage(epochs)


def test_fractional_epochs_and_loader_epochs():
    s = Schedule("r", 7.5, (Stage(0.0, 0.4, 96, replay=4, buffer_batches=8), Stage(0.4, 1.0, 128)))
    assert s.stage_span(0) == pytest.approx((0, 3.0)) and s.at(7.5).stage == 1
    assert s.loader_epochs == pytest.approx(3.0 / 4 + 4.5)  # replay loads 4x less; its steps stay
    with pytest.raises(ValueError, match="needs a replay buffer"):
        Stage(0.0, 1.0, 96, replay=2)


def test_budget_and_progress_in_computation_follow_the_pixel_formula():
    s = Schedule("c", 10, (Stage(0.0, 0.5, 64), Stage(0.5, 1.0, 128)), progress_by="computation")
    cost = [5 * (64 / 128) ** 2, 5 * 1.0]  # epochs x (B / v)^2
    assert s.budget == pytest.approx(sum(cost))
    assert s.progress(2.5) == pytest.approx(2.5 * 0.25 / sum(cost))
    assert s.progress(7.5) == pytest.approx((cost[0] + 2.5) / sum(cost))
    assert s.progress(10) == 1.0 and s.progress(0) == 0.0
    by_epochs = Schedule("e", 10, s.stages)
    assert by_epochs.progress(2.5) == 0.25
    scaled = s.with_budget(2 * s.budget)
    assert scaled.budget == pytest.approx(2 * s.budget) and scaled.epochs == pytest.approx(20)
    with pytest.raises(ValueError, match="budget must be positive"):
        s.with_budget(0)
    with pytest.raises(ValueError, match="progress_by"):
        Schedule("x", 10, s.stages, progress_by="steps")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_files(tmp_path, suffix):
    s = two_stage()
    path = tmp_path / f"s{suffix}"
    s.save(path)
    assert Schedule.load(path) == s


def test_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        Schedule.load(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="unknown schedule keys"):
        Schedule.from_dict({**two_stage().to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="malformed"):
        Schedule.from_dict({"name": "x", "epochs": 3, "stages": [{"start": 0, "end": 1}]})


def test_rounding_and_table():
    s = two_stage().with_sizes([100, 130]).rounded(16)
    assert [st.size for st in s.stages] == [96, 128]
    table = s.table()
    assert "0-5" in table and "5-10" in table and "0.0->4.0" in table
