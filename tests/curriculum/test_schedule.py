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
    assert s.stage_epochs(0) == (0, 5) and s.stage_epochs(1) == (5, 10)
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


@pytest.mark.parametrize("epochs", [0, -5, 2.5])
def test_invalid_epochs(epochs):
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        two_stage(epochs)


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
    assert "1-5" in table and "6-10" in table and "0.0->4.0" in table
