"""Generated datasets in the layouts the trainers read, for the test suite and for trying every CPU command
without downloading anything.

* ``class_folders``: ``<root>/{train,val}/<class>/*.JPEG`` (ImageNet / ImageFolder layout). Class ``c`` is an
  oriented grating with coloured blobs (``engine.data.SyntheticImages``), so a classifier and an MAE can learn it.
* ``photos``: JPEGs at photograph sizes (333-640 px, both orientations) with smooth shading, hard-edged shapes and
  sensor-like noise: what the JPEG decoding paths and the loader benchmarks need.
* ``coco_shapes``: COCO 2017 layout (``annotations/instances_{train,val}2017.json``, ``train2017/``, ``val2017/``)
  of drawn ellipses, rectangles and triangles, one COCO category each (``person``, ``bicycle``, ``car``), whose boxes
  and polygon masks are exact by construction, plus one crowd region per image as an uncompressed RLE. The file
  lists all 80 COCO categories, so COCO-configured heads (80 classes) accept it.
* ``ade_shapes``: ADE20K challenge layout (``images/{training,validation}/*.jpg``,
  ``annotations/{training,validation}/*.png``, 0 = ignore) of label maps with ``classes`` classes (values
  ``1..classes``) painted as bands and discs, and images whose colour follows the label.

    python tools/sample_data.py OUT        # OUT/classes, OUT/photos, OUT/coco, OUT/ade
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine.data import SyntheticImages

__all__ = ["class_folders", "photos", "coco_shapes", "ade_shapes", "COCO_CLASSES", "rle_counts"]

# COCO 2017's 80 category names in id order (pycocotools / mmdet CocoDataset.METAINFO)
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")
# COCO's category ids skip numbers (1-90); the i-th name above has id COCO_IDS[i]
COCO_IDS = tuple(i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
SHAPES = ("ellipse", "rectangle", "triangle")  # categories 0, 1, 2: person, bicycle, car
SHAPE_COLOURS = ((220, 60, 40), (40, 160, 220), (240, 210, 40))


def class_folders(root: str | Path, classes: int = 5, train_per_class: int = 60, val_per_class: int = 20,
                  size: int = 64, seed: int = 0) -> Path:
    """``root/train/<class>/`` and ``root/val/<class>/`` of ``size`` px JPEGs; returns ``root``."""
    root = Path(root)
    for split, per_class, split_seed in (("train", train_per_class, seed), ("val", val_per_class, seed + 1)):
        images = SyntheticImages(per_class * classes, size, classes, seed=split_seed)
        for index in range(len(images)):
            folder = root / split / f"class_{index % classes:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            images.image(index).save(folder / f"{split}_{index:05d}.JPEG", quality=90)
    return root


def _photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = rng.uniform(0.2, 0.8, 3)[:, None, None] + 0.3 * (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1))[None]
    image = Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.05, 0.4) * width, rng.uniform(0.05, 0.4) * height
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x0 + w, y0 + h), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


PHOTO_SIZES = ((500, 375), (640, 480), (480, 640), (333, 500), (640, 427), (375, 500))


def photos(root: str | Path, count: int = 16, seed: int = 0) -> list[Path]:
    """``count`` photograph-sized JPEGs (quality 90) in ``root``; returns their paths."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = root / f"photo_{i:04d}.jpg"
        _photo(rng, *PHOTO_SIZES[i % len(PHOTO_SIZES)]).save(path, quality=90)
        paths.append(path)
    return paths


def rle_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE of a binary mask: run lengths in column-major order, starting with a run of 0s."""
    flat = mask.astype(np.uint8).flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] else runs


def _shape_polygon(shape: str, x0: float, y0: float, w: float, h: float) -> list[tuple[float, float]]:
    if shape == "rectangle":
        return [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    if shape == "triangle":
        return [(x0 + w / 2, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    cx, cy = x0 + w / 2, y0 + h / 2
    return [(cx + w / 2 * math.cos(t), cy + h / 2 * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]


def _coco_split(root: Path, split: str, count: int, rng: np.random.Generator, image_id: int, ann_id: int):
    images, annotations = [], []
    (root / f"{split}2017").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        width, height = (256, 192) if i % 2 == 0 else (192, 256)
        background = rng.uniform(60, 120, 3)
        pixels = np.broadcast_to(background, (height, width, 3)).copy()
        pixels += rng.normal(0, 6, pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        cells = rng.permutation(4)  # one shape per quadrant, never overlapping: boxes and masks stay exact
        cell_w, cell_h = width / 2, height / 2
        for cell in cells[:int(rng.integers(2, 4))]:
            category = int(rng.integers(0, len(SHAPES)))
            w, h = rng.uniform(0.6, 0.9) * cell_w, rng.uniform(0.6, 0.9) * cell_h
            x0 = (cell % 2) * cell_w + rng.uniform(0, cell_w - w)
            y0 = (cell // 2) * cell_h + rng.uniform(0, cell_h - h)
            polygon = [(round(px, 1), round(py, 1)) for px, py in _shape_polygon(SHAPES[category], x0, y0, w, h)]
            draw.polygon(polygon, fill=SHAPE_COLOURS[category])
            xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
            area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))  # the polygon's (shoelace)
            annotations.append(dict(id=ann_id, image_id=image_id, category_id=COCO_IDS[category], iscrowd=0,
                                    area=round(float(area), 2),
                                    bbox=[min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                                    segmentation=[[c for point in polygon for c in point]]))
            ann_id += 1
        # a crowd region (a small person-coloured block) in the last quadrant, as an uncompressed RLE
        crowd = np.zeros((height, width), dtype=np.uint8)
        cx, cy = int((cells[-1] % 2) * cell_w + 4), int((cells[-1] // 2) * cell_h + 4)
        crowd[cy:cy + 20, cx:cx + 20] = 1
        draw.rectangle((cx, cy, cx + 19, cy + 19), fill=SHAPE_COLOURS[0])
        annotations.append(dict(id=ann_id, image_id=image_id, category_id=COCO_IDS[0], iscrowd=1, area=400,
                                bbox=[cx, cy, 20, 20], segmentation=dict(size=[height, width],
                                                                          counts=rle_counts(crowd))))
        ann_id += 1
        name = f"{image_id:012d}.jpg"
        image.save(root / f"{split}2017" / name, quality=92)
        images.append(dict(id=image_id, file_name=name, width=width, height=height))
        image_id += 1
    categories = [dict(id=cid, name=name, supercategory="shape") for cid, name in zip(COCO_IDS, COCO_CLASSES)]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"instances_{split}2017.json").write_text(
        json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return image_id, ann_id


def coco_shapes(root: str | Path, train: int = 8, val: int = 8, seed: int = 0) -> Path:
    """A COCO 2017-layout detection / instance-segmentation set of drawn shapes; returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    image_id, ann_id = _coco_split(root, "train", train, rng, 1, 1)
    _coco_split(root, "val", val, rng, image_id, ann_id)
    return root


def _label_map(rng: np.random.Generator, width: int, height: int, values: list[int]) -> np.ndarray:
    labels = np.zeros((height, width), dtype=np.uint8)  # 0: ignored (void) pixels at the borders
    bands = rng.choice(values, size=3, replace=len(values) < 3)
    edges = np.sort(rng.integers(height // 5, height - height // 5, 2))
    for band, (top, bottom) in zip(bands, zip((2, *edges), (*edges, height - 2))):
        labels[top:bottom, 2:width - 2] = band
    y, x = np.mgrid[0:height, 0:width]
    for value in rng.choice(values, size=2):
        cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.integers(height // 8, height // 4)
        labels[((y - cy) ** 2 + (x - cx) ** 2 < r * r) & (labels > 0)] = value
    return labels


def ade_shapes(root: str | Path, classes: int = 11, train: int = 12, val: int = 4, size: tuple[int, int] = (240, 180),
               seed: int = 0, labels: tuple[int, ...] | None = None) -> Path:
    """An ADE20K challenge-layout segmentation set: label maps with values ``1..classes`` (or the given ``labels``;
    0 is ignored) and images coloured by label; returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    values = list(labels or range(1, classes + 1))
    palette = rng.integers(0, 256, (256, 3))
    width, height = size
    for split, count in (("training", train), ("validation", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            label = _label_map(rng, width, height, values)
            pixels = palette[label].astype(np.float32) + rng.normal(0, 8, (height, width, 3))
            name = f"ADE_{split}_{i:08d}"
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / "images" / split / f"{name}.jpg",
                                                                            quality=92)
            Image.fromarray(label).save(root / "annotations" / split / f"{name}.png")
    return root


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write classes/, photos/, coco/ and ade/ into")
    args = parser.parse_args(argv)
    class_folders(args.out / "classes")
    photos(args.out / "photos")
    coco_shapes(args.out / "coco")
    ade_shapes(args.out / "ade")
    print(f"wrote {args.out}/classes (ImageFolder), photos, coco (COCO 2017 layout) and ade (ADE20K layout)")


if __name__ == "__main__":
    main()
