"""Shared test fixtures: generated datasets for the mechanics tests, the few real-photograph datasets, tiny models.

Mechanics tests (a run trains, resumes, evaluates, converts) use ``sample_data``, written once per test run by
``tools/sample_data.py``. Tests whose point is real photographs read ``real_dataset(name)`` under the data root
``$EFFICIENTTRAIN_DATA`` (default: ``shared/data`` beside the repository) and skip, naming the dataset and where to
get it, when it is absent.

The suite runs on every core through pytest-xdist (``-n auto`` in pyproject.toml): each worker gets an equal share
of the cores for torch, and the subprocesses it starts inherit that share through ``OMP_NUM_THREADS``.
"""
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("EFFICIENTTRAIN_DATA", REPO.parent / "shared" / "data"))
REAL_DATASETS = {  # what each real-photograph dataset is, and where to get it
    "tiny-imagenet-20": "20 classes of Tiny ImageNet (cs231n.stanford.edu/tiny-imagenet-200.zip) in ImageFolder "
                        "layout, train/ and val/ with 500 and 50 images a class",
    "coco-mini": "a few COCO 2017 images (cocodataset.org) with their instances_{train,val}2017.json",
}


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


def real_dataset(name: str) -> Path:
    """``$EFFICIENTTRAIN_DATA/<name>``, or skip the test naming the dataset and where to get it."""
    path = DATA_ROOT / name
    if not path.is_dir():
        pytest.skip(f"real photographs: {path} not found ({REAL_DATASETS[name]}); set EFFICIENTTRAIN_DATA to the "
                    f"folder holding {name}/")
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


def _run_folder(tmp_path_factory) -> Path:
    """The test run's temporary folder that every xdist worker sees."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture
def torchrun_slot(tmp_path_factory):
    """One torchrun job at a time across the xdist workers: jobs started side by side can take each other's ports,
    and a restarted round then fails in gloo's connectFullMesh."""
    with FileLock(str(_run_folder(tmp_path_factory) / "torchrun.lock")):
        yield


def _once(tmp_path_factory, name: str, build) -> Path:
    """``build(partial)`` run once for all xdist workers under a lock; returns the finished folder."""
    shared = _run_folder(tmp_path_factory)
    out = shared / name
    with FileLock(f"{out}.lock"):
        if not out.is_dir():
            partial = shared / f"{name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            build(partial)
            partial.rename(out)
    return out


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory) -> Path:
    """Generated datasets (``tools/sample_data.py``): ``classes/`` (5 classes, 60 train + 20 val JPEGs each, 64 px),
    ``coco/`` (COCO layout, drawn shapes), ``ade/`` (ADE20K layout, 11 classes), ``ade150/`` (the same with 150)."""
    from tools.sample_data import ade_shapes, class_folders, coco_shapes

    def build(root: Path) -> None:
        class_folders(root / "classes")
        coco_shapes(root / "coco")
        ade_shapes(root / "ade")
        ade_shapes(root / "ade150", classes=150, train=2, val=1, labels=(1, 13, 77, 150))
    return _once(tmp_path_factory, "sample_data", build)


@pytest.fixture(scope="session")
def image_folder(sample_data) -> Path:
    """An ImageNet-style root with ``train/`` (5 classes x 60 generated 64 px JPEGs) and ``val/`` (5 x 20)."""
    return sample_data / "classes"


def generated_photos() -> list[Path]:
    """16 generated JPEGs at photograph sizes (333-640 px, both orientations; ``tools/sample_data.photos``),
    written once per machine and version of the generator, for tests that call it outside a fixture."""
    from tools import sample_data

    version = hashlib.sha1(Path(sample_data.__file__).read_bytes()).hexdigest()[:10]
    folder = Path(tempfile.gettempdir()) / f"efficienttrain-test-photos-{version}"
    with FileLock(f"{folder}.lock"):
        if not folder.is_dir():
            partial = folder.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            sample_data.photos(partial)
            partial.rename(folder)
    return sorted(folder.glob("*.jpg"))


def reference_crop_and_flip(size: int, scale: tuple[float, float], interpolation: str = "bicubic"):
    """The loaders' RandomResizedCrop and flip from other hands: timm's ``RandomResizedCropAndInterpolation`` (its
    box drawn from Python's ``random``, torchvision's ``resized_crop``), then a flip on ``random.random() < 0.5``."""
    import random

    from timm.data.transforms import RandomResizedCropAndInterpolation
    from torchvision import transforms
    from torchvision.transforms import functional as F

    crop = RandomResizedCropAndInterpolation(size, scale=scale, interpolation=interpolation)
    return transforms.Compose([crop, lambda image: F.hflip(image) if random.random() < 0.5 else image])


# The micro encoder of the dense-prediction CPU configs (configs/detection|segmentation/*_vit-tiny_cpu_*.py).
TINY_VIT = ["model.name=mae_vit_tiny", "model.patch_size=8", "model.embed_dim=96", "model.depth=4", "model.num_heads=3",
            "model.decoder_embed_dim=64", "model.decoder_depth=1", "model.decoder_num_heads=2"]


def _pretrain_tiny_vit(data: Path, epochs: int, out: Path) -> None:
    from engine.config import load_config
    from pretrain_mae.config import PretrainConfig
    from pretrain_mae.train import pretrain

    pretrain(load_config(PretrainConfig, None, TINY_VIT + [
        f"data.path={data}", "data.num_workers=2", f"run.output_dir={out}", "run.progress=false",
        "run.log_images_every=0", "schedule.preset=baseline", f"schedule.epochs={epochs}", "schedule.final_size=64",
        "optim.blr=5e-3", "optim.batch_size=64", "optim.warmup_epochs=0.3"]))


@pytest.fixture(scope="session")
def pretrained_mae(tmp_path_factory, image_folder):
    """A pretrain_mae run of the micro ViT of the CPU transfer configs on the generated class folders (4 epochs
    over 300 images), made once for all xdist workers: what the transfer mechanics tests load."""
    return _once(tmp_path_factory, "pretrained_mae", lambda out: _pretrain_tiny_vit(image_folder, 4, out))


@pytest.fixture(scope="session")
def pretrained_mae_photos(tmp_path_factory):
    """A pretrain_mae run on real photographs (2 epochs over the 10,000 Tiny-ImageNet-20 training images, ~1 min
    on 2 cores), for the test that MAE pre-training beats a random initialisation."""
    data = real_dataset("tiny-imagenet-20")
    return _once(tmp_path_factory, "pretrained_mae_photos", lambda out: _pretrain_tiny_vit(data, 2, out))


def mae_vit_macs(size: int, patch: int, depth: int, dim: int, decoder_depth: int = 0, decoder_dim: int = 0,
                 mask_ratio: float = 0.0) -> int:
    """Multiply-accumulates of one forward pass, written out for the tests from the ViT's layers (an independent
    count beside ``curriculum.ViTCost``): a block of n tokens of width d does qkv (3 n d^2), the attention products
    (2 n^2 d), the projection (n d^2) and the 4x MLP (8 n d^2); the encoder sees the visible patches and the class
    token, MAE's decoder (if any) all patches and the class token, after a d -> d' embedding and before a
    d' -> p^2 x 3 pixel prediction."""
    patches = (size // patch) ** 2
    visible = round(patches * (1 - mask_ratio))

    def block(n, d):
        return 3 * n * d * d + 2 * n * n * d + n * d * d + 8 * n * d * d

    macs = visible * 3 * patch * patch * dim + depth * block(visible + 1, dim)
    if decoder_depth:
        macs += (visible + 1) * dim * decoder_dim + decoder_depth * block(patches + 1, decoder_dim)
        macs += patches * decoder_dim * patch * patch * 3
    return macs


def schedule_speedup(schedule, macs, baseline_epochs: float) -> float:
    """The computation of ``baseline_epochs`` at the final size over that of the schedule's stages (each stage's
    epochs at its size), with ``macs(size)`` the cost of one image."""
    spent = sum((s.end - s.start) * schedule.epochs * macs(s.size) for s in schedule.stages)
    return baseline_epochs * macs(schedule.final_size) / spent
