"""The readout-speed benchmark on the CPU: a --quick report of the right model, bank and shape (never its timings)."""
import json

from benchmarks.readout_speed import main


def test_quick_report(tmp_path, capsys):
    report = main(["--quick", "--device", "cpu", "--json", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text()) == report
    assert (report["model"], report["size"], report["dim"]) == ("vit_tiny_patch16_224", 64, 192)
    assert (report["knn_bank"], report["knn_queries"]) == (20_000, 1_000)
    assert report["knn_bank_gib"] == 20_000 * 192 * 4 / 2 ** 30
    assert len(report["feature_images_per_s"]) == len(report["knn_seconds"]) == 1
    assert min(report["feature_images_per_s"] + report["knn_seconds"]) > 0
    assert "kNN of 1000 queries against 20000 x 192" in capsys.readouterr().out
