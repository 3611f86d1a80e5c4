"""``python -m curriculum`` prints the paper's ratios, writes plots and rejects bad input."""
import pytest

from curriculum.__main__ import main


@pytest.mark.parametrize("model,ratio", [("mae_vit_base", "1.54x"), ("mae_vit_large", "1.53x"),
                                         ("deit_small", "1.56x"), ("deit_tiny", "1.59x")])
def test_show_prints_table_and_speedup(capsys, model, ratio):
    main(["show", "efficienttrain", "--epochs", "300", "--final-size", "224", "--model", model])
    out = capsys.readouterr().out
    assert "181-240" in out and f"speedup {ratio}" in out


def test_show_schedule_file_and_plot(tmp_path, capsys):
    from curriculum import make_preset
    path = tmp_path / "s.yaml"
    make_preset("efficienttrain++", 40).save(path)
    main(["show", str(path)])
    assert "efficienttrain++" in capsys.readouterr().out
    png = tmp_path / "s.png"
    main(["plot", "efficienttrain", "--epochs", "30", "--out", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_exit_with_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["show", "nope"])
    assert exit_info.value.code == 2 and "unknown schedule preset 'nope'" in capsys.readouterr().err
