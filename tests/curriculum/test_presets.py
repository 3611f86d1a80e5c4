"""Presets reproduce the papers' stage tables and scale to other epoch counts and sizes."""
import pytest

from curriculum.presets import make_preset


def sizes_by_epoch(schedule):
    return [schedule.at(e).size for e in range(schedule.epochs)]


def test_efficienttrain_matches_table5():
    s = make_preset("efficienttrain", 300)
    assert sizes_by_epoch(s) == [160] * 180 + [192] * 60 + [224] * 60
    assert s.at(0).magnitude == 0 and s.at(300).magnitude == pytest.approx(9.0)
    assert s.at(150).magnitude == pytest.approx(4.5)  # linear 0 -> 9 over the whole run


def test_efficienttrain_scales_epochs_and_final_size():
    s = make_preset("efficienttrain", 1600)
    assert sizes_by_epoch(s) == [160] * 960 + [192] * 320 + [224] * 320
    assert [st.size for st in make_preset("efficienttrain", 100, final_size=384).stages] == [160, 272, 384]
    small = make_preset("efficienttrain", 10, final_size=64, round_to=16)
    assert all(st.size % 16 == 0 for st in small.stages) and small.final_size == 64


def test_efficienttrain_pp_equal_compute_segments():
    s = make_preset("efficienttrain++", 454)
    assert [st.size for st in s.stages] == [96] * 2 + [160] * 4 + [224] * 4
    assert [st.magnitude[0] for st in s.stages] == list(range(10))
    # each segment has the same pixel budget: length * B^2 is constant (official epoch_scale_ratio)
    budgets = [(st.end - st.start) * st.size ** 2 for st in s.stages]
    assert max(budgets) == pytest.approx(min(budgets))
    replayed = make_preset("efficienttrain++", 100, replay=True)
    assert [st.replay for st in replayed.stages] == [4] * 2 + [2] * 4 + [1] * 4
    large = make_preset("efficienttrain++", 100, large_batch=2)
    assert [st.batch_scale for st in large.stages] == [2] * 6 + [1] * 4


def test_unknown_preset_and_bad_size():
    with pytest.raises(ValueError, match="unknown schedule preset 'fast'"):
        make_preset("fast", 100)
    with pytest.raises(ValueError, match="final size"):
        make_preset("baseline", 100, final_size=-1)
    with pytest.raises(ValueError, match="epochs"):
        make_preset("efficienttrain", 0)
