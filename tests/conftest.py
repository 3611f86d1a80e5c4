"""Shared test fixtures: the small real datasets beside the repository, and tiny model configs."""
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {path} is not available")
    return path


# A micro MAE that trains in seconds on 32-64 px inputs (patch 8).
MICRO_MAE = ["model.name=mae_vit_tiny", "model.patch_size=8", "model.embed_dim=64", "model.depth=2",
             "model.num_heads=2", "model.decoder_embed_dim=32", "model.decoder_depth=1", "model.decoder_num_heads=2",
             "run.progress=false", "run.log_images_every=0", "data.num_workers=0", "optim.warmup_epochs=1"]


@pytest.fixture(scope="session")
def tiny_imagenet_subset(tmp_path_factory):
    """An ImageNet-style train folder of 5 Tiny-ImageNet-20 classes x 60 images (symlinks), for fast runs."""
    source = shared_dataset("tiny-imagenet-20") / "train"
    root = tmp_path_factory.mktemp("tiny_subset")
    for class_dir in sorted(source.iterdir())[:5]:
        (root / "train" / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:60]:
            (root / "train" / class_dir.name / image.name).symlink_to(image)
    return root
