"""What an OpenMMLab run trains and evaluates on, made explicit before it starts.

* ``point_at(cfg, root)`` (``--data-root``): mmengine resolves ``data_root`` when a config is read, so overriding
  ``data_root`` alone leaves every dataset and evaluator on the config's own paths. This rewrites each dataset's
  ``data_root`` and every path under the config's old root (annotation files of evaluators included).
* ``check_classes(cfg)``: the class count of every head (``num_classes`` anywhere in ``model``, RPN aside) must equal
  the classes of every dataset (their ``metainfo``, else the dataset type's ``METAINFO``) and, for COCO-format
  evaluation, the categories of the annotation file; otherwise per-class metrics would be reported under the wrong
  names. A mismatch stops the run naming both numbers.
* ``check_annotations(cfg)``: every dataset's annotation file exists and, up to 128 MB, parses as JSON; otherwise
  the run stops naming the file (mmengine would fail later, inside a loader, with the parser's message alone).
* ``check_labels(cfg)``: every segmentation label map of the splits a run uses is read once at start (in threads) and
  each value checked against the decode head's classes after ``reduce_zero_label`` (mmseg's ``LoadAnnotations``:
  0 becomes the ignore index 255, every other value ``v`` becomes ``v - 1``). A value outside ``[0, num_classes)``
  that is not the ignore index stops the run naming the file, the value and the class count, where the loss would
  otherwise fail deep inside with ``Target ... is out of bounds``.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["point_at", "check_annotations", "check_classes", "check_labels", "ClassMismatchError", "LabelRangeError"]

SPLITS = ("train_dataloader", "val_dataloader", "test_dataloader")
EVALUATORS = ("val_evaluator", "test_evaluator")


class ClassMismatchError(ValueError):
    """The model's heads and the data disagree on the number of classes."""


class LabelRangeError(ValueError):
    """A segmentation label map holds a value the model's classes cannot take."""


def _items(node, where: str):
    """``(key, value, path)`` of a config dict's or list's entries."""
    if isinstance(node, dict):
        return [(key, value, f"{where}.{key}") for key, value in node.items()]
    if isinstance(node, list):
        return [(i, value, f"{where}[{i}]") for i, value in enumerate(node)]
    return []


def point_at(cfg, root: str) -> list[str]:
    """Move every dataset root and every path under the config's ``data_root`` to ``root``; returns the changes."""
    old = cfg.get("data_root")
    new = str(root)
    changes: list[str] = []

    def moved(path: str) -> str:
        return new.rstrip("/") + "/" + path[len(old):].lstrip("/")

    def visit(node, where: str) -> None:
        for key, value, here in _items(node, where):
            if key == "data_root" and isinstance(node, dict):
                node[key] = new if not new.endswith("/") and not str(value).endswith("/") else new.rstrip("/") + "/"
                changes.append(f"{here}: {value} -> {node[key]}")
            elif isinstance(value, str) and old and value.startswith(old):
                node[key] = moved(value)
                changes.append(f"{here}: {value} -> {node[key]}")
            else:
                visit(value, here)

    for section in SPLITS + EVALUATORS:
        if section in cfg and cfg[section] is not None:
            visit(cfg[section], section)
    cfg.data_root = new
    return changes


def _head_classes(model) -> dict[str, int]:
    found: dict[str, int] = {}

    def visit(node, where: str) -> None:
        for key, value, here in _items(node, where):
            if key == "rpn_head":
                continue  # class-agnostic proposals
            if key == "num_classes" and isinstance(value, int):
                found[here] = value
            else:
                visit(value, here)

    visit(model, "model")
    return found


def _dataset_classes(dataset_cfg, scope: str | None) -> tuple[str, int] | None:
    while "dataset" in dataset_cfg:  # RepeatDataset, ClassBalancedDataset, ...
        dataset_cfg = dataset_cfg["dataset"]
    metainfo = dataset_cfg.get("metainfo") or {}
    if metainfo.get("classes") is not None:
        return dataset_cfg.get("type", "?"), len(metainfo["classes"])
    from mmengine.registry import DATASETS  # noqa: PLC0415

    kind = dataset_cfg.get("type")
    if not isinstance(kind, str):
        cls = kind  # a class given directly
    elif "." in kind or scope is None:
        cls = DATASETS.get(kind)
    else:
        cls = DATASETS.get(f"{scope}.{kind}") or DATASETS.get(kind)
    classes = getattr(cls, "METAINFO", {}).get("classes") if cls is not None else None
    return (getattr(kind, "__name__", kind), len(classes)) if classes else None


def check_classes(cfg) -> None:
    """Raise ``ClassMismatchError`` naming the head and the data whose class counts differ."""
    heads = _head_classes(cfg.get("model", {}))
    if not heads:
        return
    for split in SPLITS:
        loader = cfg.get(split)
        if not loader or "dataset" not in loader:
            continue
        found = _dataset_classes(loader["dataset"], cfg.get("default_scope"))
        if found is None:
            continue
        kind, count = found
        for head, n in heads.items():
            if n != count:
                raise ClassMismatchError(
                    f"{head}={n} but {split}.dataset ({kind}) has {count} classes: per-class metrics would be "
                    f"reported under the wrong names. Set the heads' num_classes and the dataset's "
                    f"metainfo=dict(classes=(...)) to your classes (README: training on your own classes)")
    for evaluator in EVALUATORS:
        spec = cfg.get(evaluator)
        ann = spec.get("ann_file") if isinstance(spec, dict) else None
        if not ann or not str(ann).endswith(".json") or not Path(ann).is_file() or Path(ann).stat().st_size > 2 ** 27:
            continue
        categories = len(json.loads(Path(ann).read_text()).get("categories", []))
        for head, n in heads.items():
            if categories and n != categories:
                raise ClassMismatchError(f"{head}={n} but {evaluator}.ann_file {ann} lists {categories} categories")


def _split_datasets(cfg, splits=SPLITS):
    """``(split, dataset config)`` of the ``splits``' data loaders, wrappers (RepeatDataset, ...) unwrapped."""
    for split in splits:
        loader = cfg.get(split)
        if not loader or "dataset" not in loader:
            continue
        dataset = loader["dataset"]
        while "dataset" in dataset:
            dataset = dataset["dataset"]
        yield split, dataset


def check_annotations(cfg, splits=SPLITS) -> None:
    """Raise ``FileNotFoundError`` / ``ValueError`` naming a missing or unreadable JSON annotation file of one of
    the ``splits``' datasets."""
    for split, dataset in _split_datasets(cfg, splits):
        ann = dataset.get("ann_file")
        if not ann or not str(ann).endswith(".json"):
            continue
        path = Path(dataset.get("data_root") or "") / ann
        if not path.is_file():
            raise FileNotFoundError(f"{split}.dataset.ann_file: {path} does not exist")
        if path.stat().st_size <= 2 ** 27:
            try:
                json.loads(path.read_bytes())
            except ValueError as err:
                raise ValueError(f"{split}.dataset.ann_file: {path} is not valid JSON ({err})") from None


def _label_values(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        labels = np.asarray(image)
    if labels.dtype == np.uint8:
        return np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    return np.unique(labels)


def _reduces_zero_label(dataset_cfg) -> bool:
    if "reduce_zero_label" in dataset_cfg:
        return bool(dataset_cfg["reduce_zero_label"])
    loads = [t for t in dataset_cfg.get("pipeline") or [] if isinstance(t, dict) and t.get("type") == "LoadAnnotations"]
    return bool(loads and loads[0].get("reduce_zero_label", False))


def check_labels(cfg, report=print, splits=SPLITS) -> int:
    """Scan the segmentation label maps of the ``splits`` against ``model.decode_head.num_classes``; returns how
    many files were read. Raises ``LabelRangeError`` naming the first file with a value out of range."""
    head = (cfg.get("model") or {}).get("decode_head")
    if not isinstance(head, dict) or not isinstance(head.get("num_classes"), int):
        return 0
    classes, ignore = head["num_classes"], head.get("ignore_index", 255)
    started, checked, seen = time.perf_counter(), 0, set()
    for _, dataset in _split_datasets(cfg, splits):
        folder = (dataset.get("data_prefix") or {}).get("seg_map_path")
        if folder is None:
            continue
        root = Path(dataset.get("data_root") or "") / folder
        if root in seen:  # the test split is often the validation split
            continue
        seen.add(root)
        files = sorted(root.glob(f"*{dataset.get('seg_map_suffix', '.png')}"))
        reduce = _reduces_zero_label(dataset)
        with ThreadPoolExecutor(8) as pool:
            for path, values in zip(files, pool.map(_label_values, files)):
                mapped = np.where(values == 0, 255, values - 1) if reduce else values
                mapped = np.where(mapped == 254, 255, mapped) if reduce else mapped
                bad = values[(mapped >= classes) & (mapped != ignore) | (mapped < 0)]
                if bad.size:
                    after = f" ({int(bad[0]) - 1} after reduce_zero_label)" if reduce else ""
                    valid = f"1..{classes}, with 0 and 255 ignored" if reduce else f"0..{classes - 1} and {ignore}"
                    raise LabelRangeError(f"{path} holds segmentation label {int(bad[0])}{after}, but "
                                          f"model.decode_head.num_classes={classes} (valid values: {valid})")
        checked += len(files)
    if checked and report is not None:
        report(f"label maps checked: {checked} files, every value within the {classes} classes "
               f"({time.perf_counter() - started:.1f} s)")
    return checked
