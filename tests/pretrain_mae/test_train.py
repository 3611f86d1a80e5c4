"""End-to-end pre-training runs on CPU: curriculum switches, loss, resume after kill -9, DDP, corrupt data."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from curriculum import Schedule, Stage, StageValues, make_preset
from engine.config import load_config
from engine.data import CorruptImageError
from engine.decode import RandomResizedCropDecode
from engine.device_decode import EncodedCrop
from engine.distributed import DistInfo
from pretrain_mae.config import PretrainConfig
from pretrain_mae.train import MAETask, pretrain
from tests.conftest import MICRO_MAE, mae_vit_macs

REPO = Path(__file__).resolve().parents[2]


def config(data, out, *extra):
    return MICRO_MAE + [f"data.path={data}", f"run.output_dir={out}", "schedule.final_size=64",
                        "optim.batch_size=16", *extra]


def records(out):
    """Last record per epoch from metrics.jsonl (a resumed epoch overrides the killed run's line)."""
    lines = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return [r for _, r in sorted({r["epoch"]: r for r in lines}.items())]


def run_cli(args, env=None, **kwargs):
    env = env or {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "pretrain_mae", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_stage_switch_follows_schedule(image_folder, tmp_path):
    schedule = Schedule("test", 4, (Stage(0.0, 0.5, 48, batch_scale=2.0, replay=2, buffer_batches=4),
                                    Stage(0.5, 1.0, 64)))
    schedule.save(tmp_path / "schedule.yaml")
    out = tmp_path / "run"
    cfg = load_config(PretrainConfig, None, config(image_folder, out, f"schedule.file={tmp_path}/schedule.yaml",
                                                    "schedule.epochs=4"))
    pretrain(cfg)
    got = records(out)
    assert [r["size"] for r in got] == [48, 48, 64, 64]
    assert [r["batch"] for r in got] == [32, 32, 16, 16]
    # 300 images: stage 0 runs round(2 x 300 / 32) = 19 steps of 32 (16 loaded + 16 replayed), stage 1 38 of 16
    assert got[-1]["step"] == 19 + 38 and got[1]["step"] == 19
    assert all(r["skipped_images"] == 0 for r in got)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert {p.name for p in out.glob("checkpoint-*.pth")} == {"checkpoint-last.pth", "checkpoint-0003.pth"}
    encoder = torch.load(out / "encoder.pth", weights_only=True)
    assert encoder["model"]["pos_embed"].shape == (1, 1 + 64, 64)


def test_loss_decreases(image_folder, tmp_path):
    cfg = load_config(PretrainConfig, None, config(image_folder, tmp_path, "schedule.epochs=4",
                                                    "optim.blr=1e-2", "schedule.preset=baseline"))
    pretrain(cfg)
    losses = [r["loss"] for r in records(tmp_path)]
    assert losses[-1] < 0.85 * losses[0] and losses == sorted(losses, reverse=True), losses


def test_loader_crop_matches_device_crop_and_resize_runs(image_folder, tmp_path):
    common = ["schedule.epochs=2", "schedule.preset=efficienttrain", "run.save_every=0"]
    runs = {}
    for mode, decode in (("fft", "full"), ("fft-loader", "full"), ("resize", "full"), ("resize", "reduced"),
                         ("resize", "device"), ("resize", "box")):
        name = mode if decode == "full" else f"{mode}-{decode}"
        workers = 1 if decode in ("device", "box") else 0  # also the batch's way from a worker and decode-ahead
        pretrain(load_config(PretrainConfig, None, config(image_folder, tmp_path / name, *common,
                                                           f"schedule.low_frequency={mode}", f"data.decode={decode}",
                                                           f"data.num_workers={workers}")))
        runs[name] = records(tmp_path / name)
    assert [r["size"] for r in runs["fft"]] == [48, 64] == [r["size"] for r in runs["resize"]]
    assert [r["loss"] for r in runs["fft"]] == pytest.approx([r["loss"] for r in runs["fft-loader"]], rel=1e-4)
    # it trains, and on nearly the signal of the FFT crop: Lanczos and the exact low-pass keep the same low
    # frequencies (measured 1e-4 apart; the pixels themselves: tests/engine)
    assert runs["resize"][-1]["loss"] < runs["resize"][0]["loss"]
    assert [r["loss"] for r in runs["resize"]] == pytest.approx([r["loss"] for r in runs["fft"]], rel=1e-3)
    # 64 px images never allow a 1/2-scale decode of a 48 px crop: data.decode=reduced trains on the same pixels
    assert [r["loss"] for r in runs["resize-reduced"]] == [r["loss"] for r in runs["resize"]]
    # decoded and cropped in the training process: the same samples, pixels within rounding (tests/engine)
    assert [r["loss"] for r in runs["resize-device"]] == pytest.approx([r["loss"] for r in runs["resize"]], rel=1e-3)
    assert [r["loss"] for r in runs["resize-box"]] == pytest.approx([r["loss"] for r in runs["resize"]], rel=1e-3)


def test_data_decode_reaches_the_loader_transform(tmp_path):
    cfg = load_config(PretrainConfig, None, MICRO_MAE + ["data.decode=reduced", f"run.output_dir={tmp_path}"])
    task = MAETask(cfg, DistInfo(0, 0, 1, torch.device("cpu")), 64)
    assert task.optimizer.defaults["fused"]  # engine.runtime.fused_optimizer
    for mode in ("fft", "fft-loader", "resize"):
        cfg.schedule.low_frequency = mode
        assert isinstance(task.transform(StageValues(0, 48, 0.0, 1.0, 1.0, 1)).transforms[0], RandomResizedCropDecode)
    for decode in ("device", "box"):
        cfg.data.decode = decode
        for mode in ("fft", "resize"):
            cfg.schedule.low_frequency = mode
            crop = task.transform(StageValues(0, 48, 0.0, 1.0, 1.0, 1)).transforms[0]
            assert isinstance(crop, EncodedCrop) and crop.where == decode
    with pytest.raises(ValueError, match="data.decode"):
        load_config(PretrainConfig, None, ["data.decode=draft"])


def test_efficienttrain_pp_with_replay_runs_every_stage(image_folder, tmp_path, monkeypatch):
    """ET++ (deit_small lists, replay 4 / 2) from a budget of 2 epochs: every one of the ten stages gets steps, in
    order, at its size (every step's scalars are logged here), and the run lasts the schedule's real epochs."""
    import engine.loop

    monkeypatch.setattr(engine.loop, "LOG_EVERY", 1)
    pretrain(load_config(PretrainConfig, None, config(
        image_folder, tmp_path, "schedule.preset=efficienttrain++", "schedule.family=deit_small",
        "schedule.replay=true", "schedule.epochs=2", "schedule.low_frequency=resize", "optim.batch_size=8")))
    schedule = make_preset("efficienttrain++", 2, 64, round_to=8, family="deit_small", replay=True)
    scalars = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    stages = [int(e.value) for e in scalars.Scalars("curriculum/stage")]
    sizes = [int(e.value) for e in scalars.Scalars("curriculum/size")]
    assert len(schedule.stages) == 10 and stages == sorted(stages)  # stages run in order, never revisited
    assert sorted(set(stages)) == list(range(10))  # every stage got at least one step
    assert [sizes[stages.index(i)] for i in range(10)] == [stage.size for stage in schedule.stages]
    assert [s.step for s in scalars.Scalars("curriculum/stage")] == list(range(len(stages)))  # one per step
    got = records(tmp_path)
    assert got[-1]["epochs_done"] == pytest.approx(schedule.epochs, rel=0.02)


def test_kill_then_resume_reproduces_losses(image_folder, tmp_path):
    args = ["--config", str(REPO / "pretrain_mae/demo.yaml")]
    common = [f"--set={s}" for s in config(image_folder, "X", "schedule.epochs=6", "run.save_every=0")]
    reference = run_cli(args + common + [f"--set=run.output_dir={tmp_path / 'ref'}"])
    assert reference.wait(timeout=300) == 0, reference.stdout.read()
    out = tmp_path / "killed"
    victim = run_cli(args + common + [f"--set=run.output_dir={out}"])
    deadline = time.time() + 300
    while time.time() < deadline:
        if (out / "metrics.jsonl").is_file() and len((out / "metrics.jsonl").read_text().splitlines()) >= 2:
            break
        assert victim.poll() is None, victim.stdout.read()
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert len(records(out)) < 6
    resumed = run_cli(args + common + [f"--set=run.output_dir={out}"])
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0 and "resumed from" in output, output
    assert [r["loss"] for r in records(out)] == pytest.approx([r["loss"] for r in records(tmp_path / "ref")],
                                                              rel=1e-6)
    # a record per epoch, with the size of the stage it ends in (stages switch at steps 3.6 and 4.8 epochs)
    assert [r["size"] for r in records(out)] == [48, 48, 48, 56, 64, 64]


@pytest.mark.parametrize("cache", [[], ["data.decode=reduced", "data.cache_scale=1"]], ids=["files", "cache"])
def test_two_process_ddp_matches_one_process(image_folder, tmp_path, torchrun_slot, cache):
    """Also with the decoded cache, which the two ranks then share (``engine.decoded_cache.node_shared_cache``)."""
    common = config(image_folder, "X", "schedule.epochs=2", "run.save_every=0", "run.device=cpu", *cache)
    single = load_config(PretrainConfig, REPO / "pretrain_mae/demo.yaml", common + [f"run.output_dir={tmp_path / 'one'}"])
    pretrain(single)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "pretrain_mae",
           "--config", str(REPO / "pretrain_mae/demo.yaml")]
    cmd += [f"--set={s}" for s in common + [f"run.output_dir={tmp_path / 'two'}", "optim.batch_size=8"]]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    one, two = records(tmp_path / "one"), records(tmp_path / "two")
    assert [r["global_batch"] for r in two] == [16, 16] and [r["batch"] for r in two] == [8, 8]
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-4)
    assert ("one copy per machine" in done.stdout) == bool(cache)


def test_corrupt_image_is_reported_by_path(image_folder, tmp_path, caplog):
    data = tmp_path / "data"
    shutil.copytree(image_folder, data, symlinks=True)
    broken = next((data / "train").iterdir()) / "broken.JPEG"
    broken.write_bytes(b"\xff\xd8 this is not a jpeg")
    cfg = load_config(PretrainConfig, None, config(data, tmp_path / "err", "schedule.epochs=1"))
    with pytest.raises(CorruptImageError, match="broken.JPEG"):
        pretrain(cfg)
    cfg = load_config(PretrainConfig, None, config(data, tmp_path / "skip", "schedule.epochs=1",
                                                    "data.on_corrupt=skip"))
    with caplog.at_level("WARNING"):
        pretrain(cfg)
    assert records(tmp_path / "skip")[0]["skipped_images"] >= 1  # one epoch reads every image, the broken one too
    skips = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert skips and all("broken.JPEG" in m for m in skips)


def test_with_device_decoding_a_corrupt_jpeg_is_skipped_when_asked(image_folder, tmp_path, caplog):
    """The header parses, so the file travels as bytes and fails in the training process's decode."""
    data = tmp_path / "data"
    shutil.copytree(image_folder, data, symlinks=True)
    first = sorted(next((data / "train").iterdir()).iterdir())[0]
    whole = first.read_bytes()
    (first.parent / "truncated.JPEG").write_bytes(whole[:len(whole) // 3])
    cfg = load_config(PretrainConfig, None, config(data, tmp_path / "skip", "schedule.epochs=1",
                                                    "data.decode=device", "data.on_corrupt=skip"))
    with caplog.at_level("WARNING"):
        pretrain(cfg)
    assert records(tmp_path / "skip")[0]["skipped_images"] >= 1
    skips = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert skips and all("truncated.JPEG" in m for m in skips)


def test_a_missing_split_stops_the_run_naming_the_path(image_folder, tmp_path):
    for split in ("trian", "test"):
        cfg = load_config(PretrainConfig, None, config(image_folder, tmp_path, f"data.split={split}"))
        with pytest.raises(FileNotFoundError, match=f"data.split='{split}': .*{split} is not a folder"):
            pretrain(cfg)
    # the command line says it in one line, exit status 2, no traceback (kept behind EFFICIENTTRAIN_DEBUG=1)
    cli = run_cli([f"--set=data.path={image_folder}", "--set=data.split=trian"])
    output = cli.communicate(timeout=300)[0]
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert cli.returncode == 2 and "Traceback" not in output, output
    assert len(lines) == 1 and f"{image_folder}/trian is not a folder" in lines[0], output
    debug = run_cli([f"--set=data.path={image_folder}", "--set=data.split=trian"],
                    env={**os.environ, "PYTHONPATH": str(REPO), "EFFICIENTTRAIN_DEBUG": "1"})
    assert debug.wait(timeout=300) == 1 and "Traceback" in debug.stdout.read()


def test_a_corrupt_image_in_a_loader_worker_is_one_line(image_folder, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(image_folder, data, symlinks=True)
    (next((data / "train").iterdir()) / "broken.JPEG").write_bytes(b"\xff\xd8 this is not a jpeg")
    cli = run_cli([f"--set={s}" for s in config(data, tmp_path / "run", "schedule.epochs=1", "data.num_workers=1")])
    output = cli.communicate(timeout=300)[0]
    assert cli.returncode == 2 and "Traceback" not in output, output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert line.startswith("error: unreadable image ") and "broken.JPEG" in line, line


def test_the_global_batch_sets_the_accumulation_and_folds_the_small_stages(image_folder, tmp_path, capsys):
    pretrain(load_config(PretrainConfig, None, config(image_folder, tmp_path, "schedule.epochs=2",
                                                       "optim.batch_size=8", "optim.global_batch=32")))
    printed = capsys.readouterr().out
    assert "global batch 32 = 8 per device x 1 device x 4 accumulation steps" in printed
    assert "schedule.fold=2 (automatic: accumulation 4 is even)" in printed
    got = records(tmp_path)
    assert [(r["size"], r["batch"], r["global_batch"]) for r in got] == [(48, 16, 32), (64, 8, 32)]


def test_resume_with_another_schedule_is_refused(image_folder, tmp_path):
    pretrain(load_config(PretrainConfig, None, config(image_folder, tmp_path, "schedule.epochs=1")))
    with pytest.raises(RuntimeError, match="different schedule"):
        pretrain(load_config(PretrainConfig, None, config(image_folder, tmp_path, "schedule.epochs=3")))


def test_readme_demo_command_runs_without_data(tmp_path):
    demo = run_cli(["--set=schedule.epochs=2", f"--set=run.output_dir={tmp_path}", "--set=run.progress=false"])
    output = demo.communicate(timeout=300)[0]
    assert demo.returncode == 0, output
    # the demo's micro MAE (patch 8, width 192, 4 blocks; decoder 2 x 128) through efficienttrain's stages
    macs = lambda size: mae_vit_macs(size, 8, 4, 192, 2, 128, 0.75)  # noqa: E731
    speedup = 2 * macs(64) / (2 * (0.6 * macs(48) + 0.2 * macs(56) + 0.2 * macs(64)))
    assert f"speedup {speedup:.2f}x" in output and "versus 2 epochs at B=64" in output, output[-3000:]
    assert [r["size"] for r in records(tmp_path)] == [48, 64]  # epoch 0 in stage 0 (0-1.2), epoch 1 ends at 64
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*")) and (tmp_path / "encoder.pth").is_file()
    assert (tmp_path / "checkpoint-last.pth").is_file() and (tmp_path / "config.yaml").is_file()
