"""MAE's linear probe: a frozen encoder (BatchNorm statistics included), the head's BatchNorm training, the cached
mode's inputs, separation of a separable set, records and results labelled with their mode."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

from engine.config import load_config
from engine.distributed import DistInfo
from readout.config import ProbeConfig, ProbeOptim
from readout.data import Transformed, eval_transform, readout_datasets
from readout.features import dataset_features
from readout.linprobe import LinearProbe, linear_probe, train_head

REPO = Path(__file__).resolve().parents[2]
MICRO_VIT = ["model.name=vit_tiny_patch16_224", "model.patch_size=8", "model.embed_dim=64", "model.depth=2",
             "model.num_heads=2", "model.img_size=64"]
CPU = ["data.num_workers=0", "run.progress=false", "optim.batch_size=50", "optim.global_batch=100",
       "optim.warmup_epochs=1"]


def test_encoder_with_batchnorm_is_bit_identical_after_the_probe_and_the_head_statistics_move(image_folder,
                                                                                                 tmp_path):
    encoder = timm.create_model("resnet10t", num_classes=0)
    torch.save(encoder.state_dict(), tmp_path / "resnet.pth")
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    assert any(k.endswith("running_mean") for k in before)  # the point: statistics that train mode would move
    cfg = load_config(ProbeConfig, None, CPU + [
        "model.name=resnet10t", f"model.pretrained={tmp_path / 'resnet.pth'}", "model.img_size=32", "pool=avg",
        f"data.path={image_folder}", "epochs=2", f"run.output_dir={tmp_path / 'out'}"])
    linear_probe(cfg)
    state = torch.load(tmp_path / "out" / "checkpoint-last.pth", weights_only=False)["model"]
    after = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert state["head.0.running_mean"].abs().sum() > 0 and not torch.equal(state["head.0.running_var"],
                                                                           torch.ones_like(state["head.0.running_var"]))
    assert "head.0.weight" not in state  # BatchNorm1d(affine=False)


def test_probe_keeps_the_encoder_in_eval_mode():
    probe = LinearProbe(timm.create_model("resnet10t", num_classes=0), num_classes=3, pool="avg")
    probe.train()
    assert probe.head.training and probe.head[0].training
    assert not any(m.training for m in probe.encoder.modules())
    assert not any(p.requires_grad for p in probe.encoder.parameters())
    assert probe.head[0].eps == 1e-6 and probe.head[0].affine is False
    assert float(probe.head[1].weight.detach().std()) == pytest.approx(0.01, rel=0.2)
    assert torch.all(probe.head[1].bias == 0)


def test_cached_features_are_the_head_inputs_of_the_protocol_without_augmentation(image_folder):
    cfg = load_config(ProbeConfig, None, MICRO_VIT + [f"data.path={image_folder}", "data.val_per_class=3"])
    _, val = readout_datasets(cfg.data)
    probe = LinearProbe(timm.create_model("vit_tiny_patch16_224", num_classes=0, global_pool="token", img_size=64,
                                          patch_size=8, embed_dim=64, depth=2, num_heads=2), 5, "cls").eval()
    transformed = Transformed(val, eval_transform(64))
    info = DistInfo(0, 0, 1, torch.device("cpu"))
    cached, labels = dataset_features(probe.encoder, transformed, ["cls"], info, batch_size=4, num_workers=0)
    images = torch.stack([transformed[i][0] for i in range(len(transformed))])
    torch.testing.assert_close(cached["cls"], probe.features(images), rtol=1e-5, atol=1e-6)
    assert labels.tolist() == [transformed[i][1] for i in range(len(transformed))] == [0] * 3 + [1] * 3 + [2] * 3 + \
        [3] * 3 + [4] * 3


def test_head_separates_a_linearly_separable_set():
    """At MAE's absolute lr (0.1 x 16384 / 256 = 6.4): LARS's trust ratio (0.001) makes small steps, so the head
    needs MAE's lr, not the linear rule's at a batch of 64, to separate in 140 steps."""
    optim = ProbeOptim(global_batch=64, warmup_epochs=1, blr=6.4 * 256 / 64)
    generator = torch.Generator().manual_seed(0)
    directions = torch.randn(6, 32, generator=generator) * 4
    labels = torch.arange(600) % 6
    features = directions[labels] + torch.randn(600, 32, generator=generator)
    record = train_head(features[:480], labels[:480], features[480:], labels[480:], 6,
                        optim, epochs=20, seed=0)
    assert record["top1"] == 100.0 and record["mode"].startswith("cached features")
    shuffled = train_head(features[:480], labels[:480][torch.randperm(480, generator=generator)], features[480:],
                          labels[480:], 6, optim, epochs=20, seed=0)
    assert shuffled["top1"] < 40  # the same head on permuted labels learns nothing that transfers


def run(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def test_cached_mode_command_labels_every_output(image_folder, tmp_path):
    done = run("readout.linprobe", *[f"--set={o}" for o in MICRO_VIT + CPU + [
        f"data.path={image_folder}", "mode=cached", "epochs=3", f"run.output_dir={tmp_path}"]])
    assert done.returncode == 0, done.stderr[-3000:]
    label = "cached features: un-augmented images, features extracted once (not MAE's protocol)"
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["mode"] == label for r in records)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["mode"] == label and result["top1"] == records[-1]["top1"] and result["epochs"] == 3
    assert f"linear probe ({label})" in done.stdout and "300 training and 100 validation features" in done.stdout


def test_a_class_token_asked_of_a_cnn_is_one_line(image_folder, tmp_path):
    done = run("readout.linprobe", "--set", "model.name=resnet10t", "--set", f"data.path={image_folder}",
               "--set", f"run.output_dir={tmp_path}")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "ResNet has no class token: use pool avg" in done.stderr


def test_protocol_under_torchrun_makes_the_global_batch_of_two_processes(image_folder, tmp_path, torchrun_slot):
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                           "readout.linprobe", *[f"--set={o}" for o in MICRO_VIT + CPU + [
                               "optim.batch_size=25", f"data.path={image_folder}", "epochs=1",
                               f"run.output_dir={tmp_path}"]]],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "global batch 100 = 25 per device x 2 devices x 2 accumulation steps" in done.stdout
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["trained_images"] == 300 and record["mode"] == "MAE linear-probe protocol"
    assert json.loads((tmp_path / "result.json").read_text())["top1"] == record["top1"]
