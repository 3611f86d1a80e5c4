"""What an OpenMMLab run trains and evaluates on, made explicit before it starts.

* ``point_at(cfg, root)`` (``--data-root``): mmengine resolves ``data_root`` when a config is read, so overriding
  ``data_root`` alone leaves every dataset and evaluator on the config's own paths. This rewrites each dataset's
  ``data_root`` and every path under the config's old root (annotation files of evaluators included).
* ``check_classes(cfg)``: the class count of every head (``num_classes`` anywhere in ``model``, RPN aside) must equal
  the classes of every dataset (their ``metainfo``, else the dataset type's ``METAINFO``) and, for COCO-format
  evaluation, the categories of the annotation file; otherwise per-class metrics would be reported under the wrong
  names. A mismatch stops the run naming both numbers.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["point_at", "check_classes", "ClassMismatchError"]

SPLITS = ("train_dataloader", "val_dataloader", "test_dataloader")
EVALUATORS = ("val_evaluator", "test_evaluator")


class ClassMismatchError(ValueError):
    """The model's heads and the data disagree on the number of classes."""


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
