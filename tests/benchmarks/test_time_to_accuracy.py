"""The time-to-accuracy benchmark: its summary arithmetic on known curves, and the structure of a --quick report
(never its accuracies)."""
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.time_to_accuracy import defaults, main, schedules, stage_rows, summarize, time_to
from tests.conftest import mae_vit_macs
from tools.sample_data import class_folders

REPO = Path(__file__).resolve().parents[2]


def curve(points):
    return [{"epoch": i + 1, "wall_s": w, "computation": c, "top1": t} for i, (w, c, t) in enumerate(points)]


def test_time_to_target_and_summary_rows():
    runs = [{"schedule": "baseline", "seed": 0, "curve": curve([(10, 1, 20), (20, 2, 40)]), "process_s": 30},
            {"schedule": "baseline", "seed": 1, "curve": curve([(12, 1, 30), (24, 2, 50)]), "process_s": 34},
            {"schedule": "fast", "seed": 0, "curve": curve([(5, 0.5, 46), (11, 1.2, 44)]), "process_s": 20},
            {"schedule": "fast", "seed": 1, "curve": curve([(6, 0.5, 30), (12, 1.2, 40)]), "process_s": 16}]
    assert time_to(runs[2]["curve"], 45) == 5 and time_to(runs[3]["curve"], 45) is None
    summary = summarize(runs)
    assert summary["target_top1"] == 45  # the baseline's mean final top-1
    base, fast = summary["rows"]
    assert (base["reached_target"], base["time_to_target_s"]) == ("1/2", 24)
    assert base["top1_mean"] == 45 and base["top1_std"] == pytest.approx(7.0711, abs=1e-4)
    assert fast["wall_speedup"] == pytest.approx(22 / 11.5) and fast["computation_speedup"] == pytest.approx(2 / 1.2)
    assert (fast["reached_target"], fast["time_to_target_s"]) == ("1/2", 5)
    assert fast["time_to_accuracy_speedup"] == pytest.approx(22 / 5)
    assert fast["wall_share_of_computation_speedup"] == pytest.approx((22 / 11.5) / (2 / 1.2))
    assert fast["process_s_mean"] == 18 and fast["process_speedup"] == pytest.approx(32 / 18)  # with evaluation


def test_compared_schedules_follow_the_protocol():
    compared = schedules(12)  # the micro ViT at 64 px: DeiT-S's official ET++ stages
    assert compared["efficienttrain++"] == {"preset": "efficienttrain++", "epochs": 8, "family": "deit_small",
                                            "warmup": 1.0, "final_size": 64}
    short = compared["baseline-short"]
    # ET's computation at 12 epochs: 3/5 at 48 px, 1/5 at 56, 1/5 at 64 (64 x 160/224 and 64 x 192/224 rounded to
    # the patch 8), counted for the micro ViT (patch 8, width 96, 4 blocks) layer by layer
    macs = lambda size: mae_vit_macs(size, 8, 4, 96)  # noqa: E731
    relative = (0.6 * macs(48) + 0.2 * macs(56) + 0.2 * macs(64)) / macs(64)
    assert short["preset"] == "baseline" and short["epochs"] == round(12 * relative, 4)
    assert compared["efficienttrain++ replay"] == {**compared["efficienttrain++"], "replay": True}
    resnet = schedules(12, "resnet10t", 128)
    assert resnet["efficienttrain++"]["family"] == "resnet" and resnet["baseline"]["final_size"] == 128
    assert resnet["efficienttrain++ replay"] == {**resnet["efficienttrain++"], "replay": True}
    assert "efficienttrain++ replay" not in schedules(12, "convnext_atto", 64)  # the family has no replay script
    # a CNN's cost is its pixels: ET's 3/5 at 160/224, 1/5 at 192/224, 1/5 at full size of the final-size pixels
    relative = 0.6 * (91 / 128) ** 2 + 0.2 * (110 / 128) ** 2 + 0.2  # sizes 128*160/224, 128*192/224, rounded
    assert resnet["baseline-short"]["epochs"] == pytest.approx(12 * relative, abs=1e-3)


def test_defaults_follow_the_dataset_size():
    assert defaults(9469) == {"epochs": 13, "pretrain_epochs": 10, "finetune_epochs": 6}  # Imagenette
    assert defaults(1_281_167)["epochs"] == 4 and defaults(100)["epochs"] == 300  # ImageNet-1k; clamped
    assert defaults(60_000)["finetune_epochs"] == 2  # never below 2


def test_stage_rows_group_each_schedule_by_size():
    points = [{"size": 48, "images_per_s": 300, "data_wait_share": 0.2, "top1": 10, "wall_s": 5, "computation": 0.5},
              {"size": 64, "images_per_s": 100, "data_wait_share": 0.0, "top1": 30, "wall_s": 15, "computation": 1.5},
              {"size": 64, "images_per_s": 120, "data_wait_share": 0.1, "top1": 40, "wall_s": 8, "computation": 1.0,
               "prepare_share": 0.3}]
    base = [{"size": 64, "images_per_s": 100, "data_wait_share": 0.0, "top1": 30, "wall_s": w, "computation": c}
            for w, c in ((20, 1.0), (40, 2.0))]  # 0.05 final-size epochs a second
    rows = stage_rows([{"schedule": "baseline", "curve": base}, {"schedule": "et", "curve": points[:2]},
                       {"schedule": "et", "curve": points[2:]}])
    assert [(r["schedule"], r["size"], r["epoch_records"]) for r in rows] == [("baseline", 64, 2), ("et", 48, 1),
                                                                             ("et", 64, 2)]
    assert rows[2]["images_per_s"] == 110 and rows[2]["data_wait_share"] == pytest.approx(0.05)
    assert rows[2]["prepare_share"] == pytest.approx(0.15)  # records without the field count 0
    assert rows[2]["top1_at_end"] == 40  # the last quarter (at least one) of the size's records, in run order
    # computation per second: 0.5 / 5 at 48 px; (1.5 - 0.5) / (15 - 5) and 1.0 / 8 at 64 px; the baseline's 0.05
    assert rows[0]["computation_rate_vs_reference"] == pytest.approx(1.0)
    assert rows[1]["computation_rate_vs_reference"] == pytest.approx(0.1 / 0.05)
    assert rows[2]["computation_rate_vs_reference"] == pytest.approx((0.1 + 0.125) / 2 / 0.05)


def test_quick_report_structure_and_merge(tmp_path):
    data = class_folders(tmp_path / "data", classes=20, train_per_class=8, val_per_class=5)
    out = tmp_path / "tta"
    main(["--quick", "--data", str(data), "--out", str(out), "--workers", "0"])
    report = json.loads((out / "results.json").read_text())
    assert report["train_images"] == 160 and report["val_images"] == 100
    for section in ("a", "b"):
        for key in ("device", "commit", "command", "seeds", "recipe"):
            assert key in report[section]
    names = {"baseline", "efficienttrain", "efficienttrain++", "efficienttrain++ replay", "baseline-short"}
    assert {r["schedule"] for r in report["a"]["runs"]} == names
    assert [r["schedule"] for r in report["a"]["summary"]["rows"]] == list(report["a"]["schedules"])
    for run in report["a"]["runs"] + report["b"]["runs"]:
        points = run["curve"]
        assert points and all(set(p) >= {"epoch", "wall_s", "computation", "top1", "size", "images_per_s",
                                         "data_wait_share"} for p in points)
        assert all(a["wall_s"] < b["wall_s"] and a["computation"] < b["computation"]
                   for a, b in zip(points, points[1:]))
    by_name = {r["schedule"]: r for r in report["b"]["runs"]}
    assert set(by_name) == {"baseline", "efficienttrain", "random"}
    assert by_name["random"]["pretrain_curve"] == [] and by_name["random"]["pretrain_wall_s"] == 0
    for name in ("baseline", "efficienttrain"):
        walls = [p["wall_s"] for p in by_name[name]["pretrain_curve"]]
        assert walls == sorted(walls) and by_name[name]["pretrain_wall_s"] == walls[-1]
    rows = {r["schedule"]: r for r in report["b"]["summary"]["rows"]}
    assert rows["baseline"]["gain_over_random"] == pytest.approx(rows["baseline"]["top1_mean"]
                                                                 - rows["random"]["top1_mean"])
    # each recipe record is what its runs trained: every recorded field equals the run's saved config
    for recipe, config in ((report["a"]["recipe"], out / "runs" / "a" / "baseline" / "seed0" / "config.yaml"),
                           (report["b"]["recipe"]["finetune"], out / "runs" / "b" / "baseline" / "seed0" / "finetune"
                            / "config.yaml")):
        trained = yaml.safe_load(config.read_text())
        assert {(section, key): trained[section][key] for section in ("model", "aug", "optim")
                for key in recipe[section]} == {(section, key): value for section in ("model", "aug", "optim")
                                                for key, value in recipe[section].items()}
    assert report["a"]["recipe"]["model"]["name"] == "resnet10t" and report["a"]["recipe"]["optim"]["batch_size"] == 16
    assert report["b"]["recipe"]["finetune"]["optim"]["layer_decay"] == 0.75
    table = (out / "results.md").read_text()
    assert "| efficienttrain |" in table and "| baseline-short |" in table and "| MAE efficienttrain |" in table
    assert "| random |" in table and "per stage size" in table
    assert (out / "top1_vs_wall.png").stat().st_size > 1000

    # a second call with --experiments a replaces (a) and keeps (b)
    main(["--quick", "--data", str(data), "--out", str(out), "--workers", "0", "--experiments", "a",
          "--model", "micro_vit"])
    again = json.loads((out / "results.json").read_text())
    assert again["a"]["model"] == "micro_vit" and again["b"]["runs"] == report["b"]["runs"]


def test_gpu_command_runs_quick_on_the_cpu(tmp_path):
    """The prepared GPU command (ResNet-50, MAE ViT-S) end to end on the CPU: --quick, and --final-size 64 (extra
    arguments override the script's 128) to fit a minute; 10 classes so that every ET++ stage gets a step."""
    data = class_folders(tmp_path / "data", classes=10, train_per_class=8, val_per_class=5)
    out = tmp_path / "gpu"
    subprocess.run(["bash", str(REPO / "benchmarks" / "time_to_accuracy_gpu.sh"), str(data), str(out), "--quick",
                    "--workers", "0", "--final-size", "64"], check=True, cwd=REPO, capture_output=True, timeout=600)
    report = json.loads((out / "results.json").read_text())
    assert (report["a"]["model"], report["b"]["mae_model"]) == ("resnet50", "vit_small")
    assert [r["schedule"] for r in report["a"]["runs"]] == ["baseline", "efficienttrain", "efficienttrain++",
                                                           "efficienttrain++ replay", "baseline-short"]
    assert [r["schedule"] for r in report["b"]["runs"]] == ["baseline", "efficienttrain", "random"]


@pytest.mark.parametrize("bad, message", [(["--model", "nosuchnet"], "is neither a timm model"),
                                          (["--data", "/nonexistent"], "holds no class folders")])
def test_bad_arguments_end_in_one_line(tmp_path, capsys, bad, message):
    data = class_folders(tmp_path / "data", classes=2, train_per_class=2, val_per_class=1)
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(data), "--out", str(tmp_path / "out"), *bad])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_schedule_order_is_reversed_on_every_other_seed(monkeypatch, tmp_path):
    """Counterbalanced order: a schedule that runs first in one seed runs last in the next."""
    import types
    import benchmarks.time_to_accuracy as tta
    point = {"epoch": 1, "epochs_done": 1, "wall_s": 1.0, "computation": 1.0, "size": 64, "data_wait_share": 0.0,
             "prepare_share": 0.0, "images_per_s": 1.0, "top1": 50.0}
    monkeypatch.setattr(tta, "run_supervised", lambda *args, **kwargs: [point])
    args = types.SimpleNamespace(epochs=12, model="resnet10t", final_size=64, seeds=3, out=tmp_path)
    section = tta.experiment_a(args, tmp_path, lambda *_: None)
    names = list(tta.schedules(12, "resnet10t", 64))
    order = [(r["seed"], r["schedule"]) for r in section["runs"]]
    assert order == [(0, n) for n in names] + [(1, n) for n in reversed(names)] + [(2, n) for n in names]
    assert [row["schedule"] for row in section["summary"]["rows"]] == names
