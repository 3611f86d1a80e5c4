"""A clean stop on a signal: checkpoint at the step, one line, exit 128 + signal, and a resume whose records equal
an uninterrupted run's (apart from wall-time fields); a second signal while saving, a signal during evaluation,
checkpoints by the clock, and the flag all-reduced under torchrun."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from curriculum import make_preset
from engine.checkpoint import load_checkpoint
from engine.config import load_config
from engine.logger import RunLogger
from pretrain_mae.config import PretrainConfig
from pretrain_mae.train import pretrain
from tests.conftest import MICRO_MAE

REPO = Path(__file__).resolve().parents[2]
# fields that measure the machine, not the run
WALL = {"time", "images_per_s", "epoch_time_s", "data_wait_share", "prepare_share", "train_time_s", "eval_time_s",
        "eval_time_total_s"}
PRETRAIN = ["--config", str(REPO / "pretrain_mae/demo.yaml")]
FINETUNE = ["--config", str(REPO / "finetune/demo.yaml")]


def pretrain_args(data, out, *extra):
    return PRETRAIN + [f"--set={s}" for s in MICRO_MAE + [
        f"data.path={data}", f"run.output_dir={out}", "schedule.final_size=64", "optim.batch_size=8",
        "schedule.epochs=6", "run.save_every=0", "data.num_workers=1", *extra]]


def finetune_args(out, *extra):
    return FINETUNE + [f"--set={s}" for s in [f"run.output_dir={out}", "run.progress=false", "run.save_every=0",
                                                "run.log_images_every=0", "data.num_workers=1",
                                                "optim.batch_size=8", *extra]]


def lines(out: Path) -> list[dict]:
    """Every line of metrics.jsonl, wall-time fields left out (duplicates kept: they must not exist)."""
    return [{k: v for k, v in json.loads(line).items() if k not in WALL}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def loss_scalars(out: Path) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in EventAccumulator(str(out / "tensorboard")).Reload().Scalars("train/loss")]


def launch(command: list[str]) -> subprocess.Popen:
    """In its own process group, as a scheduler's job is."""
    return subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def run(command: list[str]) -> str:
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def wait_for_records(proc: subprocess.Popen, out: Path, count: int) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        path = out / "metrics.jsonl"
        if path.is_file() and len(path.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.005)
    raise TimeoutError(f"no {count} records in {out}")


def stop_line(output: str, name: str = "SIGTERM") -> tuple[int, int]:
    """(step, stage) of the run's one stop line."""
    found = [line for line in output.splitlines() if line.startswith("stopped by")]
    assert len(found) == 1 and found[0].startswith(f"stopped by {name} at step"), output
    assert "checkpoint-last.pth written in" in found[0] and "run.resume=auto" in found[0], found[0]
    step, stage = re.search(r"at step (\d+) of \d+ \(epoch [\d.]+, stage (\d+)\)", found[0]).groups()
    return int(step), int(stage)


def stop_and_resume(command: list[str], out: Path, after_records: int, status: int = 143) -> tuple[int, int]:
    """SIGTERM to the process group a third of an epoch after ``after_records`` records exist (the loop polls every
    10 steps, 4 times an epoch here, so the stop lands inside the epoch); then the same command resumes it."""
    proc = launch(command)
    wait_for_records(proc, out, after_records)
    time.sleep(json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["epoch_time_s"] / 3)
    os.killpg(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == status, output
    where = stop_line(output)
    assert not list(out.glob(".*.tmp"))
    resumed = run(command)
    assert "resumed from" in resumed
    return where


def test_sigterm_mid_epoch_mid_curriculum_then_resume_equals_the_uninterrupted_run(image_folder, tmp_path):
    command = [sys.executable, "-m", "pretrain_mae"]
    run(command + pretrain_args(image_folder, tmp_path / "ref"))
    out = tmp_path / "stopped"
    step, stage = stop_and_resume(command + pretrain_args(image_folder, out), out, after_records=4)
    reference = lines(tmp_path / "ref")
    assert step not in [r["step"] for r in reference] and stage >= 1  # inside an epoch, past the first stage
    assert lines(out) == reference
    assert loss_scalars(out) == loss_scalars(tmp_path / "ref")  # TensorBoard: no step twice, none missing


def test_finetune_stops_and_resumes_exactly(tmp_path):
    command = [sys.executable, "-m", "finetune"]
    run(command + finetune_args(tmp_path / "ref"))
    out = tmp_path / "stopped"
    step, _ = stop_and_resume(command + finetune_args(out), out, after_records=2)
    reference = lines(tmp_path / "ref")
    assert step not in [r["step"] for r in reference]
    assert lines(out) == reference


def test_efficienttrain_pp_stopped_inside_a_replay_stage_resumes_exactly(image_folder, tmp_path):
    extra = ["schedule.preset=efficienttrain++", "schedule.family=deit_small", "schedule.replay=true",
             "schedule.epochs=2", "schedule.low_frequency=resize", "optim.batch_size=8"]
    command = [sys.executable, "-m", "pretrain_mae"]
    run(command + pretrain_args(image_folder, tmp_path / "ref", *extra))
    out = tmp_path / "stopped"
    step, stage = stop_and_resume(command + pretrain_args(image_folder, out, *extra), out, after_records=1)
    schedule = make_preset("efficienttrain++", 2, 64, round_to=8, family="deit_small", replay=True)
    assert schedule.stages[stage].replay > 1 and step not in [r["step"] for r in lines(tmp_path / "ref")]
    assert lines(out) == lines(tmp_path / "ref")


def test_sigterm_to_torchrun_stops_both_ranks_and_the_job_resumes_exactly(image_folder, tmp_path, torchrun_slot):
    def torchrun(out):
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "pretrain_mae", *pretrain_args(image_folder, out, "optim.batch_size=4")]

    run(torchrun(tmp_path / "ref"))
    out = tmp_path / "stopped"
    proc = subprocess.Popen(torchrun(out), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for_records(proc, out, 3)
    time.sleep(json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["epoch_time_s"] / 3)
    proc.send_signal(signal.SIGTERM)  # torchrun itself: it forwards SIGTERM to its workers
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, output
    step, _ = stop_line(output)  # wherever torchrun's forwarding lands it: inside an epoch or at its end
    assert step < lines(tmp_path / "ref")[-1]["step"] and load_checkpoint(out / "checkpoint-last.pth")["step"] == step
    assert "resumed from" in run(torchrun(out))
    assert lines(out) == lines(tmp_path / "ref")


def test_the_cluster_command_restarts_a_killed_rank_and_finishes_the_run(image_folder, tmp_path, torchrun_slot):
    """The README's multi-node command shape (c10d rendezvous, --max-restarts) on one node of 2 CPU processes: a
    worker killed with SIGKILL after a checkpoint; torchrun restarts both, they resume from checkpoint-last.pth and
    finish with the uninterrupted job's records."""
    import socket

    def launch_job(out):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                   "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--max-restarts", "1",
                   "-m", "pretrain_mae", *pretrain_args(image_folder, out, "optim.batch_size=4",
                                                        "schedule.epochs=4")]
        return subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    reference = launch_job(tmp_path / "ref")
    assert reference.wait(timeout=600) == 0, reference.stdout.read()
    out = tmp_path / "killed"
    job = launch_job(out)
    wait_for_records(job, out, 1)
    while not (out / "checkpoint-last.pth").is_file():
        assert job.poll() is None, job.communicate()[0]
        time.sleep(0.005)
    workers = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2, workers
    os.kill(int(workers[-1]), signal.SIGKILL)
    log = job.communicate(timeout=600)[0]
    assert job.returncode == 0 and "resumed from" in log, log[-4000:]
    assert lines(out) == lines(tmp_path / "ref")


def micro_pretrain(data, out, *extra):
    return load_config(PretrainConfig, None, MICRO_MAE + [
        f"data.path={data}", f"run.output_dir={out}", "schedule.final_size=64", "optim.batch_size=16",
        "schedule.epochs=2", "schedule.preset=baseline", "run.save_every=0", *extra])


def signal_at_step(monkeypatch, step: int) -> None:
    """The run signals itself during ``step``'s loss (in-process tests: the moment is exact)."""
    from pretrain_mae.train import MAETask

    loss = MAETask.loss

    def loss_then_signal(self, model, images, targets, keys, at):
        if at == step:
            os.kill(os.getpid(), signal.SIGTERM)
        return loss(self, model, images, targets, keys, at)

    monkeypatch.setattr(MAETask, "loss", loss_then_signal)


def test_a_second_signal_while_saving_leaves_a_complete_checkpoint(image_folder, tmp_path, monkeypatch, capsys):
    import engine.checkpoint

    save, saves = torch.save, []

    def save_then_signal(obj, handle, *args, **kwargs):  # the temporary file is written, not yet renamed
        save(obj, handle, *args, **kwargs)
        saves.append(obj["step"])
        os.kill(os.getpid(), signal.SIGTERM)

    signal_at_step(monkeypatch, 5)
    monkeypatch.setattr(engine.checkpoint.torch, "save", save_then_signal)
    with pytest.raises(SystemExit) as stopped:
        pretrain(micro_pretrain(image_folder, tmp_path))
    assert stopped.value.code == 143 and saves == [11]  # the first poll after step 5: step 10's update
    assert load_checkpoint(tmp_path / "checkpoint-last.pth")["step"] == 11
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*.tmp"))
    assert "stopped by SIGTERM at step 11 of 38" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are the run's only


def test_a_signal_during_evaluation_abandons_it_and_the_resume_evaluates_the_record(image_folder, tmp_path,
                                                                                     monkeypatch, capsys):
    import readout.curve

    cfg = [f"eval.path={image_folder}", "eval.bank_per_class=4", "eval.val_per_class=2", "eval.every=1"]
    pretrain(micro_pretrain(image_folder, tmp_path / "ref", *cfg))
    evaluate, calls = readout.curve.KNNMonitor.__call__, []

    def evaluate_after_a_signal(self, *args):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here: nothing below runs
        return evaluate(self, *args)

    monkeypatch.setattr(readout.curve.KNNMonitor, "__call__", evaluate_after_a_signal)
    out = tmp_path / "stopped"
    with pytest.raises(SystemExit) as stopped:
        pretrain(micro_pretrain(image_folder, out, *cfg))
    assert stopped.value.code == 143 and "stopped by SIGTERM at step 19 of 38" in capsys.readouterr().err
    assert not (out / "metrics.jsonl").exists()  # the record waits for its evaluation
    assert load_checkpoint(out / "checkpoint-last.pth")["pending_record"]["epoch"] == 0
    pretrain(micro_pretrain(image_folder, out, *cfg))
    assert len(calls) == 3  # abandoned, then both records evaluated
    assert lines(out) == lines(tmp_path / "ref")


def test_save_minutes_checkpoints_mid_epoch_without_changing_the_run(image_folder, tmp_path, monkeypatch):
    import engine.loop

    pretrain(micro_pretrain(image_folder, tmp_path / "ref"))
    steps, save = [], engine.loop._save
    monkeypatch.setattr(engine.loop, "_save", lambda *args, **kwargs: (steps.append(args[7]), save(*args,
                                                                                                  **kwargs)))
    pretrain(micro_pretrain(image_folder, tmp_path / "timed", "run.save_minutes=1e-9"))
    assert steps == [1, 11, 19, 21, 31, 38]  # every poll (each 10 steps at an update) and the two records
    assert lines(tmp_path / "timed") == lines(tmp_path / "ref")


def test_a_resume_drops_records_and_scalars_written_after_its_checkpoint(tmp_path):
    logger = RunLogger(tmp_path, True, progress=False)
    for step in (10, 20, 30):
        logger.epoch({"epoch": step // 10 - 1, "step": step})
        logger.scalars({"train/loss": float(step)}, step - 1)
    logger.close()
    resumed = RunLogger(tmp_path, True, progress=False)
    resumed.resume_at(20)  # a run killed after record 30 was written, before its checkpoint
    resumed.scalars({"train/loss": 0.5}, 25)
    resumed.close()
    assert [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [10, 20]
    assert loss_scalars(tmp_path) == [(9, 10.0), (19, 20.0), (25, 0.5)]
