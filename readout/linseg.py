"""Frozen-backbone linear semantic segmentation: what the encoder's patch tokens say about every pixel.

DINOv2's linear evaluation (Oquab et al. 2023, Sec. 7.4; ``dinov2/eval/segmentation/models/decode_heads/
linear_head.py``, ``BNHead``): the frozen encoder's last-layer patch tokens (after its final norm) as a ``D x h x w``
map, BatchNorm and a 1x1 convolution to class logits, upsampled bilinearly to the label's resolution; cross-entropy
with void pixels ignored. Here the images are resized once to ``data.size`` without augmentation and their tokens
cached, so the head trains in seconds on a CPU (DINOv2 trains it 40k iterations with random crops and flips).

Reported on the validation split at the labels' full resolution: mIoU (the mean over classes present in the labels
or the predictions, as mmseg's ``IoUMetric``) and pixel accuracy, in ``result.json`` with the per-class IoU::

    python -m readout.linseg --config configs/readout/linseg_cpu.yaml --set model.pretrained=encoder.pth
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from engine.cli import main_guard
from engine.config import parse_args, refuse_unused, to_dict
from engine.distributed import resolve_device
from engine.runtime import seed_everything

from .config import LinSegConfig, SegData
from .encoder import build_encoder

__all__ = ["IGNORE", "load_split", "patch_tokens", "linear_head", "confusion", "miou", "linear_segmentation"]

IGNORE = 255


def _pairs(data: SegData, split: str) -> list[tuple[Path, Path]]:
    if data.path is None:
        raise ValueError("data.path is required: a folder in the ADE20K layout (images/ and annotations/)")
    images = Path(data.path) / "images" / split
    labels = Path(data.path) / "annotations" / split
    for folder in (images, labels):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} does not exist (ADE20K layout: images/<split>, annotations/<split>)")
    pairs = []
    for image in sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        label = labels / f"{image.stem}.png"
        if not label.is_file():
            raise FileNotFoundError(f"{image} has no label {label}")
        pairs.append((image, label))
    if not pairs:
        raise FileNotFoundError(f"{images} holds no images")
    return pairs


def _open(path: Path, mode: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert(mode) if mode == "RGB" else image.copy()
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: unreadable image ({err})") from None


def load_split(data: SegData, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)``: images resized to ``data.size`` (bicubic) and normalised, ``[N, 3, H, W]``; labels at
    their own resolution, ``[N, h, w]`` int64, void and (with ``reduce_zero_label``) label 0 as ``IGNORE``."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
    height, width = data.size
    images, labels = [], []
    for image_path, label_path in _pairs(data, split):
        image = _open(image_path, "RGB").resize((width, height), Image.BICUBIC)
        images.append((torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255 - mean) / std)
        label = torch.from_numpy(np.asarray(_open(label_path, "L")).astype(np.int64))
        if data.reduce_zero_label:
            label = torch.where(label == 0, IGNORE, label - 1)
        bad = label[(label != IGNORE) & (label >= data.num_classes)]
        if bad.numel():
            raise ValueError(f"{label_path}: label {int(bad[0])} outside the {data.num_classes} classes "
                             f"(data.num_classes; reduce_zero_label={data.reduce_zero_label})")
        labels.append(label)
    if len({tuple(label.shape) for label in labels}) > 1:
        raise ValueError(f"{data.path}/annotations/{split}: labels of different sizes (resize them to one size)")
    return torch.stack(images), torch.stack(labels)


@torch.no_grad()
def patch_tokens(encoder: nn.Module, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """The last layer's patch tokens after the final norm, ``[N, D, H / p, W / p]`` (float32, on the CPU)."""
    patch = encoder.patch_embed.patch_size
    grid = (images.shape[-2] // patch[0], images.shape[-1] // patch[1])
    maps = []
    for start in range(0, len(images), batch_size):
        tokens = encoder.forward_features(images[start:start + batch_size].to(device))
        tokens = tokens[:, encoder.num_prefix_tokens:].float()
        maps.append(tokens.transpose(1, 2).reshape(len(tokens), -1, *grid).cpu())
    return torch.cat(maps)


def linear_head(dim: int, num_classes: int) -> nn.Sequential:
    """DINOv2's ``BNHead`` on one feature map: BatchNorm, then a 1x1 convolution (trunc-normal std 0.01, bias 0)."""
    head = nn.Sequential(nn.BatchNorm2d(dim), nn.Conv2d(dim, num_classes, 1))
    nn.init.trunc_normal_(head[1].weight, std=0.01)
    nn.init.zeros_(head[1].bias)
    return head


def confusion(pred: torch.Tensor, label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[C, C]`` counts of (label, prediction) pairs over the pixels whose label is not ``IGNORE``."""
    keep = label != IGNORE
    index = label[keep] * num_classes + pred[keep]
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def miou(matrix: torch.Tensor) -> dict:
    """mIoU (%), pixel accuracy (%) and per-class IoU from a confusion matrix; classes absent from both labels and
    predictions are NaN and left out of the mean (mmseg's ``IoUMetric``)."""
    matrix = matrix.double()
    hits = matrix.diag()
    union = matrix.sum(0) + matrix.sum(1) - hits
    iou = hits / union  # 0 / 0: NaN
    return {"mIoU": round(100 * float(np.nanmean(iou.numpy())), 2),
            "aAcc": round(100 * float(hits.sum() / matrix.sum()), 2),
            "IoU": [None if math.isnan(v) else round(100 * v, 2) for v in iou.tolist()]}


def _logits(head: nn.Module, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(head(features), size=size, mode="bilinear", align_corners=False)


def train_linear_head(train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, cfg: LinSegConfig,
                      device: torch.device) -> nn.Module:
    """The head trained on cached maps: AdamW, cosine decay over ``epochs``, seeded shuffling."""
    head = linear_head(train_x.shape[1], num_classes).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(train_x) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    size = tuple(max(1, round(s * cfg.data.train_label_scale)) for s in train_y.shape[-2:])
    labels = F.interpolate(train_y[:, None].float(), size=size, mode="nearest")[:, 0].long()
    generator = torch.Generator().manual_seed(cfg.run.seed)
    head.train()
    for _ in range(cfg.epochs):
        for batch in torch.randperm(len(train_x), generator=generator).split(cfg.batch_size):
            loss = F.cross_entropy(_logits(head, train_x[batch].to(device), size), labels[batch].to(device),
                                   ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return head.eval()


@torch.no_grad()
def evaluate_head(head: nn.Module, val_x: torch.Tensor, val_y: torch.Tensor, num_classes: int,
                  device: torch.device) -> dict:
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for start in range(0, len(val_x), 8):
        labels = val_y[start:start + 8]
        pred = _logits(head, val_x[start:start + 8].to(device), tuple(labels.shape[-2:])).argmax(1).cpu()
        matrix += confusion(pred, labels, num_classes)
    return miou(matrix)


def linear_segmentation(cfg: LinSegConfig) -> dict:
    """Extract, train, evaluate; writes ``result.json`` in ``run.output_dir`` and returns it. One process."""
    refuse_unused(cfg, ["model.img_size"], "the linear segmentation readout (its input size is data.size)")
    refuse_unused(cfg, ["run.amp", "run.compile", "run.resume", "run.save_every", "run.save_minutes",
                        "run.log_images_every", "run.progress"],
                  "the linear segmentation readout (seconds of float32 training on cached tokens, no checkpoints)")
    seed_everything(cfg.run.seed)
    device = resolve_device(cfg.run.device)
    encoder = build_encoder(cfg.model, tuple(cfg.data.size), print).to(device)
    patch = encoder.patch_embed.patch_size
    if any(s % p for s, p in zip(cfg.data.size, patch)):
        raise ValueError(f"data.size={cfg.data.size} is not a multiple of the encoder's patch {tuple(patch)}")
    started = time.perf_counter()
    train_images, train_y = load_split(cfg.data, cfg.data.train_split)
    val_images, val_y = load_split(cfg.data, cfg.data.val_split)
    train_x = patch_tokens(encoder, train_images, cfg.batch_size, device)
    val_x = patch_tokens(encoder, val_images, cfg.batch_size, device)
    extracted = time.perf_counter()
    head = train_linear_head(train_x, train_y, cfg.data.num_classes, cfg, device)
    trained = time.perf_counter()
    result = {"readout": "frozen linear segmentation (cached tokens, no augmentation)",
              "encoder": cfg.model.pretrained or "random initialisation",
              **evaluate_head(head, val_x, val_y, cfg.data.num_classes, device),
              "train_images": len(train_x), "val_images": len(val_x), "feature_map": list(train_x.shape[1:]),
              "extract_time_s": round(extracted - started, 3), "train_time_s": round(trained - extracted, 3),
              "config": to_dict(cfg)}
    out = Path(cfg.run.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"frozen linear segmentation of {result['encoder']}: mIoU {result['mIoU']:.2f} %, pixel accuracy "
          f"{result['aAcc']:.2f} % on {len(val_x)} images (tokens {result['extract_time_s']:.1f} s, head "
          f"{result['train_time_s']:.1f} s over {cfg.epochs} epochs)")
    return result


@main_guard()
def main(argv=None) -> None:
    linear_segmentation(parse_args(LinSegConfig, "Frozen-backbone linear segmentation (DINOv2's linear readout)",
                                   argv))


if __name__ == "__main__":
    main()
