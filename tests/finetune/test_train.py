"""Fine-tuning: layer-decay groups, loading pretrain_mae and official MAE weights, MAE init vs random, resume."""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.config import load_config
from finetune.config import DEMO_CONFIG, FinetuneConfig
from finetune.train import build_model, finetune
from tests.conftest import link_subset, real_dataset
from timm.optim import create_optimizer_v2

REPO = Path(__file__).resolve().parents[2]


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_layer_decay_lr_ratios():
    cfg = load_config(FinetuneConfig, DEMO_CONFIG, ["model.depth=4"])
    model = build_model(cfg, 10, 64)
    optimizer = create_optimizer_v2(model, "adamw", lr=1.0, weight_decay=0.05, layer_decay=0.65)
    scale = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            scale[id(p)] = group["lr_scale"]
    names = dict(model.named_parameters())
    depth = 4  # layers: 0 = embeddings, 1..4 = blocks, 5 = head
    assert scale[id(names["head.weight"])] == pytest.approx(1.0)
    assert scale[id(names["pos_embed"])] == pytest.approx(0.65 ** (depth + 1))
    for i in range(depth):
        assert scale[id(names[f"blocks.{i}.attn.qkv.weight"])] == pytest.approx(0.65 ** (depth - i))


def test_pretrained_mae_encoder_loads_and_another_schedule_is_refused(tmp_path, capsys):
    from pretrain_mae.model import build_mae, encoder_state_dict
    mae = build_mae("mae_vit_tiny", patch_size=8, embed_dim=64, depth=2, num_heads=2)
    torch.save({"model": encoder_state_dict(mae, 64)}, tmp_path / "encoder.pth")
    overrides = [f"model.pretrained={tmp_path / 'encoder.pth'}", f"run.output_dir={tmp_path / 'ft'}",
                 "run.progress=false", "data.num_workers=0", "data.synthetic_length=64"]
    cfg = load_config(FinetuneConfig, DEMO_CONFIG, overrides)
    model = build_model(cfg, 10, 64)
    torch.testing.assert_close(model.blocks[0].mlp.fc1.weight, mae.blocks[0].mlp.fc1.weight)
    finetune(load_config(FinetuneConfig, DEMO_CONFIG, overrides + ["schedule.epochs=3"]))
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("model weights from")]
    assert line == (f"model weights from {tmp_path / 'encoder.pth'}: 28 tensors loaded, pos_embed kept at its grid, "
                    f"initialised (not in the source): ['fc_norm.weight', 'fc_norm.bias', 'head.weight', 'head.bias'], "
                    f"unused: ['norm.weight', 'norm.bias']")
    with pytest.raises(RuntimeError, match="different schedule"):  # a finished 3-epoch run cannot grow silently
        finetune(load_config(FinetuneConfig, DEMO_CONFIG, overrides + ["schedule.epochs=5"]))


def test_pretrain_mae_checkpoint_beats_random_init(pretrained_mae_photos, tmp_path):
    """Real photographs: the same 4-epoch fine-tune on 100 Tiny-ImageNet-20 images per class, evaluated on the 1,000
    val images: MAE init must win."""
    data = tmp_path / "data"
    source = real_dataset("tiny-imagenet-20")
    link_subset(source / "train", data / "train", classes=None, per_class=100)
    (data / "val").symlink_to(source / "val")
    common = ["model.patch_size=8", "model.embed_dim=96", "model.depth=4", "model.num_heads=3",
              "data.dataset=imagefolder", f"data.path={data}", "schedule.preset=baseline", "schedule.epochs=4",
              "optim.blr=2e-3", "optim.layer_decay=0.75", "run.progress=false"]
    top1 = {}
    for init in ("pretrained", "random"):
        weights = pretrained_mae_photos / "checkpoint-last.pth" if init == "pretrained" else "null"
        finetune(load_config(FinetuneConfig, DEMO_CONFIG, common + [f"model.pretrained={weights}",
                                                                    f"run.output_dir={tmp_path / init}"]))
        top1[init] = records(tmp_path / init)[-1]["top1"]
    assert top1["pretrained"] > top1["random"] + 1.0, top1


def test_official_mae_checkpoint_loads(tmp_path):
    """facebookresearch/mae layout: {"model": encoder + decoder, "optimizer", "epoch", "args": Namespace}."""
    cfg = load_config(FinetuneConfig, DEMO_CONFIG)
    model = build_model(cfg, 10, 64)
    encoder = {k: torch.randn_like(v) for k, v in model.state_dict().items() if not k.startswith(("head", "fc_norm"))}
    encoder.update({"norm.weight": torch.ones(64), "norm.bias": torch.zeros(64)})
    decoder = {"mask_token": torch.zeros(1, 1, 32), "decoder_embed.weight": torch.zeros(32, 64),
               "decoder_pos_embed": torch.zeros(1, 65, 32), "decoder_blocks.0.norm1.weight": torch.ones(32),
               "decoder_pred.weight": torch.zeros(192, 32)}
    torch.save({"model": {**encoder, **decoder}, "optimizer": {}, "epoch": 799,
                "args": argparse.Namespace(model="mae_vit_base_patch16", norm_pix_loss=True)}, tmp_path / "mae.pth")
    model = build_model(load_config(FinetuneConfig, DEMO_CONFIG, [f"model.pretrained={tmp_path / 'mae.pth'}"]), 10,
                        64)
    for name, tensor in encoder.items():
        if not name.startswith("norm."):  # the pre-training norm is replaced by fc_norm under global pooling
            torch.testing.assert_close(model.state_dict()[name], tensor, msg=name)


def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    common = ["--config", str(DEMO_CONFIG), "--set=run.progress=false", "--set=data.num_workers=0",
              "--set=data.synthetic_length=96", "--set=schedule.epochs=5"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(out):
        return subprocess.Popen([sys.executable, "-m", "finetune", *common, f"--set=run.output_dir={out}"], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reference = run(tmp_path / "ref")
    assert reference.wait(timeout=300) == 0, reference.stdout.read()
    victim = run(tmp_path / "killed")
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2) and time.time() < deadline:
        assert victim.poll() is None, victim.stdout.read()
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = run(tmp_path / "killed")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0 and "resumed from" in output, output
    last = {r["epoch"]: r for r in records(tmp_path / "killed")}  # a re-run epoch overrides the killed one
    expected = records(tmp_path / "ref")
    assert sorted(last) == list(range(5))
    for epoch, ref in enumerate(expected):
        assert last[epoch]["loss"] == pytest.approx(ref["loss"], rel=1e-6)
        assert last[epoch]["top1"] == ref["top1"] and last[epoch]["size"] == ref["size"]


def test_efficienttrain_pp_replay_is_honoured(tmp_path, capsys):
    """deit_small replay lists: in the replayed stages the loader reads 4x / 2x fewer images than are trained on,
    every stage gets steps, and the budget-scaled drop path is taken from the family."""
    overrides = ["run.progress=false", "data.num_workers=0", "data.synthetic_length=128", "optim.batch_size=16",
                 "schedule.preset=efficienttrain++", "schedule.family=deit_small", "schedule.replay=true",
                 "schedule.epochs=2", "model.drop_path=null", "schedule.low_frequency=resize",
                 f"run.output_dir={tmp_path}"]
    finetune(load_config(FinetuneConfig, DEMO_CONFIG, overrides))
    got = records(tmp_path)
    trained, loaded = sum(r["trained_images"] for r in got), sum(r["loaded_images"] for r in got)
    from curriculum import StepPlan, make_preset
    plan = StepPlan(make_preset("efficienttrain++", 2, 64, round_to=8, family="deit_small", replay=True), 128, 16)
    assert loaded == plan.total_samples and trained == 16 * plan.total_steps and loaded < 0.6 * trained
    assert got[0]["size"] == 24 and got[-1]["size"] == 64
    assert "drop path 0.001 (efficienttrain++ deit_small)" in capsys.readouterr().out  # 0.1 x 2 / 200


def test_option_that_cannot_be_honoured_is_refused(tmp_path):
    base = ["run.progress=false", "data.num_workers=0", "data.synthetic_length=64", f"run.output_dir={tmp_path}"]
    with pytest.raises(ValueError, match="model.drop_path=null takes the efficienttrain\\+\\+ family"):
        finetune(load_config(FinetuneConfig, DEMO_CONFIG, base + ["model.drop_path=null"]))
    with pytest.raises(ValueError, match="efficienttrain\\+\\+ options"):
        finetune(load_config(FinetuneConfig, DEMO_CONFIG, base + ["schedule.replay=true"]))


def demo(tmp_path, *extra):
    return load_config(FinetuneConfig, DEMO_CONFIG, ["run.progress=false", "data.num_workers=0",
                                                     "data.synthetic_length=64", f"run.output_dir={tmp_path}",
                                                     *extra])


def test_ema_is_checkpointed_and_resumes_exactly(tmp_path):
    finetune(demo(tmp_path / "a", "optim.ema_decay=0.9", "run.save_every=1", "schedule.epochs=3"))
    full = torch.load(tmp_path / "a" / "checkpoint-last.pth", weights_only=True)
    ema, model = full["task"]["ema"], full["model"]
    assert not torch.allclose(ema["head.weight"], model["head.weight"])  # the EMA is its own set of weights
    best = torch.load(tmp_path / "a" / "best.pth", weights_only=True)  # evaluation and best.pth use the EMA
    at_best = torch.load(tmp_path / "a" / f"checkpoint-{best['epoch']:04d}.pth", weights_only=True)
    assert best["model"].keys() == at_best["task"]["ema"].keys()
    for name, tensor in at_best["task"]["ema"].items():  # the EMA of the best epoch, whichever epoch that was
        assert torch.equal(best["model"][name], tensor), name
    assert not torch.equal(best["model"]["head.weight"], at_best["model"]["head.weight"])  # not the raw weights
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "checkpoint-last.pth").write_bytes((tmp_path / "a" / "checkpoint-0001.pth").read_bytes())
    finetune(demo(tmp_path / "b", "optim.ema_decay=0.9", "run.save_every=1", "schedule.epochs=3"))
    resumed = torch.load(tmp_path / "b" / "checkpoint-last.pth", weights_only=True)
    for name, tensor in ema.items():
        torch.testing.assert_close(resumed["task"]["ema"][name], tensor, rtol=0, atol=0, msg=name)


def _mix_task(*aug):
    from engine.data import SyntheticImages
    from engine.distributed import DistInfo
    from finetune.train import FinetuneTask
    cfg = load_config(FinetuneConfig, DEMO_CONFIG, [*aug, "aug.smoothing=0.1"])
    return FinetuneTask(cfg, DistInfo(0, 0, 1, torch.device("cpu")), 10, SyntheticImages(8, 64), 64, 0.0)


def test_the_optimizer_is_fused_on_the_cpu():
    """timm's AdamW with layer decay gets torch's fused kernel on the CPU (``engine.runtime.fused_optimizer``)."""
    task = _mix_task("optim.layer_decay=0.65")
    assert task.optimizer.defaults["fused"] and len(task.optimizer.param_groups) > 2


def _smoothed(targets, classes=10, smoothing=0.1):
    """Label smoothing written out: 1 - s + s / C on the class, s / C elsewhere."""
    return torch.full((len(targets), classes), smoothing / classes).scatter_(
        1, targets[:, None], 1 - smoothing + smoothing / classes)


def test_mixup_trains_on_the_mixed_images_and_soft_targets():
    """timm's batch mixup written out: lam ~ Beta(0.8, 0.8) (after the draw that decides to mix), x lam + x
    flipped (1 - lam), targets smoothed and mixed alike, soft-target cross-entropy."""
    import numpy as np
    task = _mix_task("aug.mixup=0.8", "aug.cutmix=0.0")
    images, targets = torch.randn(8, 3, 64, 64), torch.arange(8)
    np.random.seed(0)
    loss = task.loss(task.model, images.clone(), targets, None, 0)
    np.random.seed(0)
    np.random.rand()  # mix_prob's draw
    lam = float(np.random.beta(0.8, 0.8))
    mixed = images * lam + images.flip(0) * (1 - lam)
    soft = _smoothed(targets) * lam + _smoothed(targets.flip(0)) * (1 - lam)
    expected = (-soft * torch.log_softmax(task.model(mixed), dim=-1)).sum(-1).mean()
    torch.testing.assert_close(loss, expected)


def test_cutmix_pastes_a_box_and_weighs_the_targets_by_its_area():
    import numpy as np
    task = _mix_task("aug.mixup=0.0", "aug.cutmix=1.0")
    images, targets = torch.rand(8, 3, 64, 64), torch.arange(8)
    np.random.seed(3)
    mixed, soft = task.mixup(images.clone(), targets)
    own = (mixed == images).all(1)  # [8, 64, 64]: pixels still the image's own
    pasted = (mixed == images.flip(0)).all(1)
    assert torch.all(own | pasted) and pasted.any()  # every pixel from the image or from its partner
    kept = own.float().mean((1, 2))  # the share of the image left, the same for the whole batch
    assert torch.allclose(kept, kept[0])
    expected = _smoothed(targets) * kept[0] + _smoothed(targets.flip(0)) * (1 - kept[0])
    torch.testing.assert_close(soft, expected)


def test_corrupt_images_are_counted_and_a_fully_corrupt_or_empty_set_fails(image_folder, tmp_path):
    import shutil
    from engine.data import CorruptImageError
    data = tmp_path / "data"
    shutil.copytree(image_folder, data, symlinks=True)
    (next((data / "train").iterdir()) / "broken.JPEG").write_bytes(b"\xff\xd8 not a jpeg")
    common = ["data.dataset=imagefolder", f"data.path={data}", "data.val_split=train", "data.on_corrupt=skip",
              "schedule.epochs=1", "schedule.preset=baseline"]
    finetune(demo(tmp_path / "run", *common))
    assert records(tmp_path / "run")[0]["skipped_images"] >= 1
    bad = tmp_path / "bad"
    for split in ("train", "val"):
        (bad / split / "a").mkdir(parents=True)
        for i in range(3):
            (bad / split / "a" / f"{i}.jpg").write_bytes(b"junk")
    with pytest.raises(CorruptImageError, match=r"unreadable image .*\.jpg"):
        finetune(demo(tmp_path / "r2", *common[:1], f"data.path={bad}", "data.on_corrupt=skip", "optim.batch_size=2"))
    empty = tmp_path / "empty"
    (empty / "train" / "a").mkdir(parents=True)
    (empty / "val" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="Found no valid file"):
        finetune(demo(tmp_path / "r3", "data.dataset=imagefolder", f"data.path={empty}"))


@pytest.mark.parametrize("decode,randaug_on,cache", [("reduced", "loader", None), ("reduced", "loader", 2),
                                                     ("device", "device", None), ("full", "device", None)])
def test_decode_modes_and_randaugment_on_the_device_train_on_the_cpu(decode, randaug_on, cache, image_folder,
                                                                     tmp_path, capsys):
    """data.decode=reduced (with and without the decoded cache) / device and aug.randaug_on=device through the whole
    loop (batched libjpeg-turbo and the batched RandAugment on the CPU), with random erasing on the device; the same
    samples as the full path."""
    out = tmp_path / decode
    finetune(demo(out, "data.dataset=imagefolder", f"data.path={image_folder}", f"data.decode={decode}",
                  f"aug.randaug_on={randaug_on}", "aug.reprob=0.25", "schedule.epochs=1", "data.num_workers=1",
                  f"data.cache_scale={json.dumps(cache)}"))
    assert ("decoded cache: 300 of 300 training images at 1/2 scale" in capsys.readouterr().out) == (cache == 2)
    (record,) = records(out)
    assert record["trained_images"] == record["loaded_images"] >= 300 and record["skipped_images"] == 0
    assert math.isfinite(record["loss"])
    assert 0 <= record["top1"] <= 100 and (out / "best.pth").exists()


def test_a_dataset_smaller_than_a_stage_is_refused(tmp_path):
    """16 images, batch 8, one epoch: the 56-px stage (0.2 epochs = 3 images) would get no step."""
    with pytest.raises(ValueError, match=r"stage 1 \(B=56, epochs 0.6-0.8\) would get no training step"):
        finetune(demo(tmp_path, "data.synthetic_length=16", "optim.batch_size=8", "schedule.epochs=1"))


def test_a_damaged_last_checkpoint_names_the_numbered_ones(tmp_path):
    from engine.checkpoint import CheckpointError
    finetune(demo(tmp_path, "run.save_every=1", "schedule.epochs=2"))
    last = tmp_path / "checkpoint-last.pth"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a full disk
    damaged = last.read_bytes()
    with pytest.raises(CheckpointError, match=r"checkpoint-0000.pth, checkpoint-0001.pth; resume from one"):
        finetune(demo(tmp_path, "run.save_every=1", "schedule.epochs=2"))
    assert last.read_bytes() == damaged  # left as it was
