"""The generated datasets: their layouts are the ones the trainers read, and their annotations are exact (checked
against pycocotools, the reference implementation of COCO's masks)."""

import numpy as np
from PIL import Image
from pycocotools import coco as coco_api
from pycocotools import mask as mask_utils

from engine.data import ImageFolderDataset
from tools.sample_data import COCO_CLASSES, ade_shapes, class_folders, coco_shapes, rle_counts


def test_rle_matches_pycocotools():
    rng = np.random.default_rng(0)
    for mask in (rng.random((7, 5)) < 0.5, np.ones((4, 6), bool), np.zeros((3, 3), bool)):
        rle = mask_utils.frPyObjects({"size": list(mask.shape), "counts": rle_counts(mask)}, *mask.shape)
        np.testing.assert_array_equal(mask_utils.decode(rle), mask)


def test_coco_shapes_boxes_and_masks_are_exact(tmp_path):
    root = coco_shapes(tmp_path / "coco", train=4, val=2)
    coco = coco_api.COCO(str(root / "annotations/instances_train2017.json"))
    assert len(coco.getCatIds()) == len(COCO_CLASSES) == 80 and len(coco.getImgIds()) == 4
    for ann in coco.loadAnns(coco.getAnnIds()):
        info = coco.loadImgs(ann["image_id"])[0]
        mask = coco.annToMask(ann).astype(bool)
        polygon = np.reshape(ann["segmentation"], (-1, 2)) if not ann["iscrowd"] else None
        perimeter = 80 if polygon is None else np.linalg.norm(polygon - np.roll(polygon, 1, 0), axis=1).sum()
        assert abs(mask.sum() - ann["area"]) <= perimeter / 2  # rasterised within half a pixel of the outline
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann["bbox"]
        assert xs.min() >= x - 1 and xs.max() <= x + w + 1 and ys.min() >= y - 1 and ys.max() <= y + h + 1
        pixels = np.asarray(Image.open(root / "train2017" / info["file_name"]), dtype=np.float64)
        inside = pixels[mask].mean(axis=0)
        assert np.abs(pixels[~mask].mean(axis=0) - inside).max() > 20  # the shape stands out of its background


def test_class_folders_and_ade_layouts(tmp_path):
    train = ImageFolderDataset(class_folders(tmp_path / "classes", classes=3, train_per_class=4, val_per_class=2)
                               / "train")
    assert len(train) == 12 and len(train.classes) == 3
    root = ade_shapes(tmp_path / "ade", classes=11, train=2, val=1)
    labels = [np.asarray(Image.open(p)) for p in sorted((root / "annotations/training").glob("*.png"))]
    assert len(labels) == 2 and set(np.unique(np.concatenate([x.ravel() for x in labels]))) <= set(range(12))
    assert len(list((root / "images/validation").glob("*.jpg"))) == 1
