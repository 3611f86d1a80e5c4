"""Frozen linear segmentation: mIoU against mmseg's IoUMetric, the token map against timm's own NCHW features, the
labels as the ADE20K layout means them, and a readout that separates informative labels from shuffled ones."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from engine.config import load_config
from readout.config import LinSegConfig, SegData
from readout.linseg import IGNORE, confusion, linear_segmentation, load_split, miou, patch_tokens

REPO = Path(__file__).resolve().parents[2]
MICRO = ["model.name=vit_tiny_patch16_224", "model.patch_size=8", "model.embed_dim=96", "model.depth=4",
         "model.num_heads=3"]


@pytest.mark.parametrize("seed", [0, 1])
def test_miou_equals_mmseg_iou_metric(seed):
    from mmseg.evaluation.metrics import IoUMetric

    rng = np.random.default_rng(seed)
    classes = 6
    labels = torch.from_numpy(rng.integers(0, classes, (3, 20, 30)))
    labels[:, :4] = IGNORE
    labels[labels == 5] = 2  # class 5 absent from the labels; predicted somewhere (IoU 0), class 4 predicted nowhere
    preds = torch.from_numpy(np.where(rng.random((3, 20, 30)) < 0.6, labels.numpy(), rng.integers(0, 4, (3, 20, 30))))
    preds[0, 5, 5] = 5
    ours = miou(sum(confusion(p, l, classes) for p, l in zip(preds, labels)))
    areas = [IoUMetric.intersect_and_union(p, l, classes, IGNORE) for p, l in zip(preds, labels)]
    totals = [sum(a[i] for a in areas) for i in range(4)]
    reference = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])
    assert ours["mIoU"] == pytest.approx(100 * np.nanmean(reference["IoU"]), abs=0.01)
    assert ours["aAcc"] == pytest.approx(100 * reference["aAcc"], abs=0.01)
    assert ours["IoU"][5] == 0.0 and ours["IoU"][4] is not None  # present in labels, so counted


def test_ignored_pixels_count_nowhere():
    labels = torch.tensor([[0, 1, IGNORE, IGNORE]])
    preds = torch.tensor([[0, 1, 1, 0]])
    assert confusion(preds, labels, 2).tolist() == [[1, 0], [0, 1]]


def test_token_map_equals_timm_nchw_features():
    encoder = timm.create_model("vit_tiny_patch16_224", patch_size=8, embed_dim=96, depth=2, num_heads=3,
                                img_size=(32, 48), dynamic_img_size=True, num_classes=0).eval()
    images = torch.randn(3, 3, 32, 48)
    ours = patch_tokens(encoder, images, batch_size=2, device=torch.device("cpu"))
    reference = encoder.forward_intermediates(images, indices=1, norm=True, output_fmt="NCHW",
                                              intermediates_only=True)[0]
    assert ours.shape == (3, 96, 4, 6)
    torch.testing.assert_close(ours, reference)


def test_labels_read_as_the_ade_layout_means_them(sample_data, tmp_path):
    root = tmp_path / "ade"
    shutil.copytree(sample_data / "ade", root)
    data = SegData(path=str(root), num_classes=11, size=[64, 88])
    images, labels = load_split(data, "validation")
    raw = np.asarray(Image.open(sorted((root / "annotations/validation").iterdir())[0])).astype(np.int64)
    expected = np.where(raw == 0, IGNORE, raw - 1)
    assert images.shape == (4, 3, 64, 88) and labels.shape == (4, 180, 240)
    assert (labels[0].numpy() == expected).all()
    data.num_classes = 10  # the labels hold class 11
    with pytest.raises(ValueError, match="label 10 outside the 10 classes"):
        load_split(data, "validation")
    (root / "images/validation/ADE_validation_00000000.jpg").write_bytes(b"not a jpeg")
    data.num_classes = 11
    with pytest.raises(ValueError, match="ADE_validation_00000000.jpg: unreadable image"):
        load_split(data, "validation")


def _shuffle_labels(root: Path, split: str) -> None:
    """Each image gets another image's label map (a derangement): the labels no longer say what the pixels show."""
    files = sorted((root / "annotations" / split).iterdir())
    maps = [f.read_bytes() for f in files]
    for file, data in zip(files, maps[1:] + maps[:1]):
        file.write_bytes(data)


def test_separates_labels_from_shuffled_ones(sample_data, tmp_path):
    """The generated images are coloured by label: a linear head on even a random encoder's tokens reads them, and
    the same head with every label map moved to another image cannot."""
    results = {}
    for name in ("labels", "shuffled"):
        root = tmp_path / name
        shutil.copytree(sample_data / "ade", root)
        if name == "shuffled":
            _shuffle_labels(root, "training")
            _shuffle_labels(root, "validation")
        cfg = load_config(LinSegConfig, None, MICRO + [f"data.path={root}", "data.num_classes=11",
                                                      "data.size=[64,88]", "epochs=30", "batch_size=4",
                                                      "lr=0.01", f"run.output_dir={tmp_path / name / 'out'}"])
        results[name] = linear_segmentation(cfg)
    assert results["labels"]["mIoU"] > results["shuffled"]["mIoU"] + 15, results
    assert (tmp_path / "labels/out/result.json").is_file()


def test_bad_input_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "readout.linseg", "--set", f"data.path={tmp_path}", *sum(
        (["--set", o] for o in MICRO), [])], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "images/training does not exist" in done.stderr
