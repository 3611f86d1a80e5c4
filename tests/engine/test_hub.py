"""Weights by name: an hf-hub tag resolves through an offline cache laid out as huggingface_hub lays it, loads as
``.safetensors``, and a tag that cannot be had is one line and exit 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from engine.hub import hub_model_name, is_hub_tag

REPO = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
MICRO = ["model.patch_size=8", "model.embed_dim=64", "model.depth=2", "model.num_heads=2", "model.img_size=64"]


def offline_cache(root: Path, repo: str, state: dict) -> Path:
    """``<root>/models--<org>--<name>/{refs/main, snapshots/<commit>/model.safetensors}``: huggingface_hub's cache."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(COMMIT)
    (folder / "snapshots" / COMMIT).mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "snapshots" / COMMIT / "model.safetensors"))
    return folder / "snapshots" / COMMIT / "model.safetensors"


def knn(data, out, env, *sets):
    args = [f"--set={o}" for o in [f"data.path={data}", "data.num_workers=0", f"run.output_dir={out}", *sets]]
    return subprocess.run([sys.executable, "-m", "readout.knn", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**env, "PYTHONPATH": str(REPO)})


def test_tags_and_paths_are_told_apart():
    assert is_hub_tag("hf-hub:timm/vit_base_patch16_224.mae")
    assert not is_hub_tag("timm/vit_base_patch16_224.mae") and not is_hub_tag(Path("hf-hub:x"))
    assert hub_model_name("hf-hub:timm/vit_base_patch16_224.mae") == "vit_base_patch16_224"


def test_tag_resolves_offline_and_loads_like_the_file(image_folder, tmp_path):
    torch.manual_seed(7)  # not the readout's seed, so its random initialisation differs
    model = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=64, patch_size=8, embed_dim=64, depth=2,
                              num_heads=2)
    file = offline_cache(tmp_path / "hub", "timm/vit_tiny_patch16_224.micro", model.state_dict())
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    tag = knn(image_folder, tmp_path / "tag", env, "model.pretrained=hf-hub:timm/vit_tiny_patch16_224.micro", *MICRO)
    assert tag.returncode == 0, tag.stderr[-3000:]
    loaded = f"encoder weights from hf-hub:timm/vit_tiny_patch16_224.micro: {len(model.state_dict())} tensors loaded"
    assert loaded in tag.stdout
    path = knn(image_folder, tmp_path / "path", env, "model.name=vit_tiny_patch16_224", f"model.pretrained={file}",
               *MICRO)
    assert path.returncode == 0, path.stderr[-3000:]
    knn(image_folder, tmp_path / "random", env, "model.name=vit_tiny_patch16_224", *MICRO)
    top1 = {name: json.loads((tmp_path / name / "knn.json").read_text())["top1"] for name in ("tag", "path", "random")}
    assert top1["tag"] == top1["path"] != top1["random"]  # the weights were loaded, not a fresh initialisation


@pytest.mark.parametrize("tag, message", [
    ("hf-hub:timm/nothing_here.tag", "weights hf-hub:timm/nothing_here.tag are neither in the Hugging Face cache"),
    ("hf-hub:no-model-named", "must look like hf-hub:<org>/<model>.<tag>"),
])
def test_a_tag_that_cannot_be_had_is_one_line(image_folder, tmp_path, tag, message):
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = knn(image_folder, tmp_path, env, "model.name=vit_tiny_patch16_224", f"model.pretrained={tag}")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
