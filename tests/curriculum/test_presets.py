"""Presets reproduce the papers' stage tables and the official EfficientTrain++ scripts, and scale."""
import pytest

from curriculum.presets import FAMILIES, family_of, make_preset

# LeapLabTHU/EfficientTrain, the res_list / replay lists of each _ET_pp_(wReplay_)main_<script>.py, copied by hand
OFFICIAL_RES = {
    "deit_small": [96] * 2 + [160] * 4 + [192] * 2 + [224] * 2,
    "swin": [96] * 2 + [160] * 4 + [224] * 4, "cswin": [96] * 2 + [160] * 4 + [224] * 4,
    "resnet": [96] * 2 + [160] * 4 + [224] * 4, "convnext": [160] * 2 + [160] * 4 + [224] * 4,
}
OFFICIAL_REPLAY = {
    "deit_small": ([4] * 2 + [2] * 4 + [1] * 4, [1920] * 2 + [256] * 4 + [0] * 4),
    "resnet": ([4] * 2 + [2] * 4 + [1] * 4, [1920] * 2 + [256] * 4 + [0] * 4),
    "swin": ([2] * 2 + [1] * 4 + [1] * 4, [1024] * 2 + [0] * 4 + [0] * 4),
    "cswin": ([2] * 2 + [1] * 4 + [1] * 4, [1024] * 2 + [0] * 4 + [0] * 4),
}


def sizes_by_epoch(schedule):
    return [schedule.at(e).size for e in range(int(schedule.epochs))]


def test_efficienttrain_matches_table5():
    s = make_preset("efficienttrain", 300)
    assert sizes_by_epoch(s) == [160] * 180 + [192] * 60 + [224] * 60
    assert s.at(0).magnitude == 0 and s.at(300).magnitude == pytest.approx(9.0)
    assert s.at(150).magnitude == pytest.approx(4.5)  # linear 0 -> 9 over the whole run
    assert s.progress_by == "epochs" and s.progress(150) == 0.5 and s.warmup is None


def test_efficienttrain_scales_epochs_and_final_size():
    s = make_preset("efficienttrain", 1600)
    assert sizes_by_epoch(s) == [160] * 960 + [192] * 320 + [224] * 320
    assert [st.size for st in make_preset("efficienttrain", 100, final_size=384).stages] == [160, 272, 384]
    small = make_preset("efficienttrain", 10, final_size=64, round_to=16)
    assert all(st.size % 16 == 0 for st in small.stages) and small.final_size == 64


@pytest.mark.parametrize("family", sorted(OFFICIAL_RES))
@pytest.mark.parametrize("budget", [100, 200, 300])
def test_efficienttrain_pp_budget_semantics(family, budget):
    """Each of the ten stages costs E/10 in pixels: it lasts (E/10)(224/B)^2 real epochs (epoch_scale_ratio)."""
    s = make_preset("efficienttrain++", budget, family=family)
    assert [st.size for st in s.stages] == OFFICIAL_RES[family]
    lengths = [(st.end - st.start) * s.epochs for st in s.stages]
    assert lengths == pytest.approx([budget / 10 * (224 / b) ** 2 for b in OFFICIAL_RES[family]])
    assert s.budget == pytest.approx(budget) and s.progress_by == "computation"
    assert [st.magnitude for st in s.stages] == [(float(i), float(i)) for i in range(10)]  # --aa rand-m{ET_index}
    # the lr progress at the start of stage i is i/10, as in the official per-stage runs
    assert [s.progress(st.start * s.epochs) for st in s.stages] == pytest.approx([i / 10 for i in range(10)])


@pytest.mark.parametrize("family", sorted(OFFICIAL_REPLAY))
def test_replay_lists_match_the_official_scripts(family):
    s = make_preset("efficienttrain++", 200, family=family, replay=True)
    times, buffers = OFFICIAL_REPLAY[family]
    assert [st.replay for st in s.stages] == times and [st.buffer_batches for st in s.stages] == buffers
    plain = make_preset("efficienttrain++", 200, family=family)
    assert s.epochs == pytest.approx(plain.epochs)  # replay keeps the steps: rp_epoch counts loader epochs
    official_loader_epochs = sum(200 / 10 * (224 / b) ** 2 / r for b, r in zip(OFFICIAL_RES[family], times))
    assert s.loader_epochs == pytest.approx(official_loader_epochs)


def test_warmup_and_drop_path_follow_the_scripts():
    deit = make_preset("efficienttrain++", 200, family="deit_small")
    assert deit.warmup == pytest.approx(40)  # rp_warmup_epoch = 0.2 E (224/B)^2: 20 % of the budget
    swin = make_preset("efficienttrain++", 200, family="swin")
    # rp_warmup_epoch = 20 loader epochs of the first (B = 96) stage = 20 (96/224)^2 budget epochs
    assert swin.warmup == pytest.approx(20 * (96 / 224) ** 2)
    assert FAMILIES["deit_small"].drop_path(200) == pytest.approx(0.1)
    assert FAMILIES["deit_small"].drop_path(300) == pytest.approx(0.15)
    assert FAMILIES["swin"].drop_path(100) == pytest.approx(0.1)
    assert FAMILIES["mae_vit"].drop_path(100) is None


def test_family_of_model_names():
    assert family_of("deit_small_patch16_224") == "deit_small" and family_of("resnet50") == "resnet"
    assert family_of("convnext_tiny") == "convnext" and family_of("vit_base_patch16_224") == "swin"


def test_options_and_scaling():
    large = make_preset("efficienttrain++", 100, large_batch=2)
    assert [st.batch_scale for st in large.stages] == [2] * 6 + [1] * 4
    small = make_preset("efficienttrain++", 10, final_size=64, round_to=8, family="mae_vit")
    assert [st.size for st in small.stages] == [48] * 6 + [64] * 4
    assert small.budget == pytest.approx(10)  # stage lengths come from the rounded sizes


def test_unknown_preset_family_and_bad_input():
    with pytest.raises(ValueError, match="unknown schedule preset 'fast'"):
        make_preset("fast", 100)
    with pytest.raises(ValueError, match="unknown EfficientTrain\\+\\+ family 'vgg'"):
        make_preset("efficienttrain++", 100, family="vgg")
    with pytest.raises(ValueError, match="no replay-buffer script for family 'mae_vit'"):
        make_preset("efficienttrain++", 100, family="mae_vit", replay=True)
    with pytest.raises(ValueError, match="EfficientTrain\\+\\+ option"):
        make_preset("efficienttrain", 100, replay=True)
    with pytest.raises(ValueError, match="large_batch multiplies .* preset 'baseline' has no such stage"):
        make_preset("baseline", 100, large_batch=2)
    with pytest.raises(ValueError, match="final size"):
        make_preset("baseline", 100, final_size=-1)
    for bad in (0, -200):
        with pytest.raises(ValueError, match="must be a positive number"):
            make_preset("efficienttrain++", bad)
