"""Shared test fixtures: the small real datasets beside the repository, and tiny model configs.

The suite runs on every core through pytest-xdist (``-n auto`` in pyproject.toml): each worker gets an equal share
of the cores for torch, and the subprocesses it starts inherit that share through ``OMP_NUM_THREADS``.
"""
import os
from pathlib import Path

import pytest
from filelock import FileLock

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config):
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        threads = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def require_openmmlab(module: str = "mmcv.ops") -> None:
    """Skip the calling test module when the OpenMMLab extra is absent: the core suite runs without it."""
    pytest.importorskip(module, reason="the OpenMMLab extra (mmcv with ops, mmdet, mmseg) is not installed; "
                                       "bash tools/install.sh installs it")


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {path} is not available")
    return path


# A micro MAE that trains in seconds on 32-64 px inputs (patch 8).
MICRO_MAE = ["model.name=mae_vit_tiny", "model.patch_size=8", "model.embed_dim=64", "model.depth=2",
             "model.num_heads=2", "model.decoder_embed_dim=32", "model.decoder_depth=1", "model.decoder_num_heads=2",
             "run.progress=false", "run.log_images_every=0", "data.num_workers=0", "optim.warmup_epochs=1"]


def link_subset(source: Path, target: Path, classes: int | None, per_class: int) -> None:
    """``target/<class>/`` symlinks to the first ``per_class`` images of the first ``classes`` classes of ``source``."""
    for class_dir in sorted(source.iterdir())[:classes]:
        (target / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:per_class]:
            (target / class_dir.name / image.name).symlink_to(image)


@pytest.fixture(scope="session")
def tiny_imagenet_subset(tmp_path_factory):
    """An ImageNet-style train folder of 5 Tiny-ImageNet-20 classes x 60 images (symlinks), for fast runs."""
    root = tmp_path_factory.mktemp("tiny_subset")
    link_subset(shared_dataset("tiny-imagenet-20") / "train", root / "train", classes=5, per_class=60)
    return root


# The micro encoder of the dense-prediction CPU configs (configs/detection|segmentation/*_vit-tiny_cpu_*.py).
TINY_VIT = ["model.name=mae_vit_tiny", "model.patch_size=8", "model.embed_dim=96", "model.depth=4", "model.num_heads=3",
            "model.decoder_embed_dim=64", "model.decoder_depth=1", "model.decoder_num_heads=2"]


@pytest.fixture(scope="session")
def pretrained_mae(tmp_path_factory):
    """A real pretrain_mae run (2 epochs over the 10,000 Tiny-ImageNet-20 training images, ~1 min on 2 cores),
    made once for all xdist workers: the first builds it under a lock, the others wait and reuse it."""
    from engine.config import load_config
    from pretrain_mae.config import PretrainConfig
    from pretrain_mae.train import pretrain

    data = shared_dataset("tiny-imagenet-20")
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's folder above the per-worker ones
    out = shared / "pretrained_mae"
    with FileLock(f"{out}.lock"):
        if not out.is_dir():
            partial = shared / "pretrained_mae.partial"
            pretrain(load_config(PretrainConfig, None, TINY_VIT + [
                f"data.path={data}", "data.num_workers=2", f"run.output_dir={partial}", "run.progress=false",
                "run.log_images_every=0", "schedule.preset=baseline", "schedule.epochs=2", "schedule.final_size=64",
                "optim.blr=5e-3", "optim.batch_size=64", "optim.warmup_epochs=0.3"]))
            partial.rename(out)
    return out
