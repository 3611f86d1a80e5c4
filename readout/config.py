"""Configuration of the readouts (``configs/readout/*.yaml``): the encoder, the labelled data, and each readout.

Linear-probe defaults are MAE's protocol (facebookresearch/mae ``main_linprobe.py`` and ``PRETRAIN.md``'s linear
probing command; He et al. 2022, App. A.2): LARS, base lr 0.1, weight decay 0, 90 epochs with 10 warm-up, global
batch 16384 (512 per GPU on 32 GPUs; the accumulation follows the world size, ``engine.batch``), the class token,
RandomResizedCrop + flip for training and resize 256 / centre crop 224 for evaluation. kNN defaults follow Wu et al.
2018 and DINO: k = 20 and 200, tau = 0.07.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.config import RunConfig
from finetune.config import DataConfig

__all__ = ["EncoderConfig", "ReadoutData", "KNNConfig", "ProbeOptim", "ProbeConfig", "SegData", "LinSegConfig"]


@dataclass
class EncoderConfig:
    name: str | None = None  # timm model; None: the architecture the weights record (encoder.pth, hf-hub tag)
    pretrained: str | None = None  # a path or hf-hub:<org>/<model>.<tag>; None: random initialisation
    patch_size: int | None = None  # timm kwargs for custom (micro) ViTs
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    img_size: int = 224  # the readout's input size (eval crop; probe training crop)


@dataclass
class ReadoutData(DataConfig):
    """Fine-tuning's datasets (``finetune.datasets``), optionally cut to the first N images of every class."""

    train_per_class: int | None = None  # None: all
    val_per_class: int | None = None
    crop_pct: float = 0.875  # evaluation: resize to img_size / crop_pct, centre crop img_size (MAE: 256 / 224)


@dataclass
class KNNConfig:
    model: EncoderConfig = field(default_factory=EncoderConfig)
    data: ReadoutData = field(default_factory=ReadoutData)
    pools: list[str] = field(default_factory=lambda: ["cls", "avg"])
    k: list[int] = field(default_factory=lambda: [20, 200])
    tau: float = 0.07  # Wu et al. 2018, DINO; lightly's BenchmarkModule uses 0.1
    batch_size: int = 256  # per device, feature extraction
    run: RunConfig = field(default_factory=lambda: RunConfig(output_dir="output/knn"))


@dataclass
class ProbeOptim:
    batch_size: int = 512  # per device
    global_batch: int | None = 16384
    accum_iter: int | None = None
    blr: float = 0.1  # lr = blr * global_batch / 256
    weight_decay: float = 0.0
    momentum: float = 0.9
    trust_coefficient: float = 0.001
    warmup_epochs: float = 10.0
    min_lr: float = 0.0
    clip_grad: float | None = None


@dataclass
class ProbeConfig:
    model: EncoderConfig = field(default_factory=EncoderConfig)
    data: ReadoutData = field(default_factory=ReadoutData)
    pool: Literal["cls", "avg"] = "cls"
    # protocol: MAE's (augmented images through the frozen encoder every step); cached: features of the
    # un-augmented images extracted once, the head trained on them (a faster CPU mode, not MAE's protocol)
    mode: Literal["protocol", "cached"] = "protocol"
    epochs: int = 90
    optim: ProbeOptim = field(default_factory=ProbeOptim)
    run: RunConfig = field(default_factory=lambda: RunConfig(output_dir="output/linprobe", save_every=0,
                                                             log_images_every=0))


@dataclass
class SegData:
    """A semantic segmentation dataset in the ADE20K challenge layout: ``images/<split>/*.jpg`` and
    ``annotations/<split>/*.png`` with the same stems."""

    path: str | None = None
    train_split: str = "training"
    val_split: str = "validation"
    num_classes: int = 150
    reduce_zero_label: bool = True  # label 0 is void (ADE20K): ignored, and 1..C read as 0..C-1
    size: list[int] = field(default_factory=lambda: [128, 176])  # (H, W) of the encoder's input
    train_label_scale: float = 0.5  # training loss at this share of the label resolution (evaluation: full)


@dataclass
class LinSegConfig:
    """Frozen-backbone linear segmentation (DINOv2's linear evaluation): BatchNorm + a 1x1 convolution on the last
    layer's patch tokens, logits upsampled bilinearly, trained on cached features."""

    model: EncoderConfig = field(default_factory=EncoderConfig)
    data: SegData = field(default_factory=SegData)
    epochs: int = 40
    batch_size: int = 16
    lr: float = 1.0e-3  # AdamW, cosine decay to 0 over all steps
    weight_decay: float = 1.0e-4
    run: RunConfig = field(default_factory=lambda: RunConfig(output_dir="output/linseg"))
