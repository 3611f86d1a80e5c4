"""``python -m curriculum`` prints the paper's ratios, writes plots and rejects bad input."""
import re

import pytest

from curriculum.__main__ import main


@pytest.mark.parametrize("model,ratio", [("mae_vit_base", "1.54x"), ("mae_vit_large", "1.53x"),
                                         ("deit_small", "1.56x"), ("deit_tiny", "1.59x")])
def test_show_prints_table_and_speedup(capsys, model, ratio):
    main(["show", "efficienttrain", "--epochs", "300", "--final-size", "224", "--model", model])
    out = capsys.readouterr().out
    assert "180-240" in out and f"speedup {ratio}" in out


def speedups(out):
    model, pixels = re.search(r"speedup ([\d.]+)x \(pixels: ([\d.]+)x\)", out).groups()
    return float(model), float(pixels)


def test_efficienttrain_pp_budget_against_a_baseline(capsys):
    """ET++ at a budget of 200 against the 300-epoch baseline is the paper's 1.5x protocol; 300 costs the same."""
    main(["show", "efficienttrain++", "--family", "deit_small", "--epochs", "200", "--baseline-epochs", "300",
          "--model", "deit_small"])
    out = capsys.readouterr().out
    model, pixels = speedups(out)
    assert 1.45 <= model <= 1.60 and pixels == pytest.approx(1.5, abs=0.005)
    assert "budget 200" in out and "0-108.9" in out  # stage 0 lasts (200/10) (224/96)^2 = 108.9 real epochs
    main(["show", "efficienttrain++", "--family", "deit_small", "--epochs", "300", "--model", "deit_small"])
    model, pixels = speedups(capsys.readouterr().out)
    assert model == pytest.approx(1.0, abs=0.05) and pixels == pytest.approx(1.0, abs=0.005)


def test_show_schedule_file_and_plot(tmp_path, capsys):
    from curriculum import make_preset
    path = tmp_path / "s.yaml"
    make_preset("efficienttrain++", 40).save(path)
    main(["show", str(path)])
    assert "efficienttrain++" in capsys.readouterr().out
    main(["show", str(path), "--epochs", "80"])  # a computation schedule file rescales to the new budget
    assert "budget 80" in capsys.readouterr().out
    png = tmp_path / "s.png"
    main(["plot", "efficienttrain", "--epochs", "30", "--out", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv,message", [
    (["show", "nope"], "unknown schedule preset 'nope'"),
    (["show", "efficienttrain++", "--epochs", "0"], "must be a positive number"),
    (["show", "efficienttrain++", "--epochs", "-3"], "must be a positive number"),
    (["show", "efficienttrain", "--family", "swin"], "EfficientTrain++ option"),
    (["show", "efficienttrain++", "--family", "convnext", "--replay"], "no replay-buffer script for family"),
])
def test_errors_exit_with_message(capsys, argv, message):
    with pytest.raises(SystemExit, match="2") as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_unknown_family_is_refused(capsys):
    with pytest.raises(SystemExit, match="2") as exit_info:
        main(["show", "efficienttrain++", "--family", "vgg"])
    assert exit_info.value.code == 2 and "invalid choice: 'vgg'" in capsys.readouterr().err
