"""Configuration of fine-tuning / supervised training (``configs/finetune/*.yaml``).

Defaults follow the MAE end-to-end fine-tuning recipe for ViT-B (He et al. 2022, Table 9): AdamW (0.9, 0.999),
blr 5e-4, layer decay 0.65, weight decay 0.05, drop path 0.1, 5 warm-up epochs, RandAugment (9, 0.5), mixup 0.8,
cutmix 1.0, label smoothing 0.1, random erasing 0.25, global average pooling.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from curriculum import ScheduleConfig
from engine.config import RunConfig
from engine.decoded_cache import check_cache_scale

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


@dataclass
class ModelConfig:
    name: str = "vit_base_patch16_224"  # any timm model; ViTs get dynamic input sizes
    pretrained: str | None = None  # our encoder.pth / checkpoint, a fine-tune checkpoint, or an official MAE file
    patch_size: int | None = None  # timm kwargs for custom (tiny) ViTs; None keeps the model's own
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    drop_path: float | None = 0.1  # null: the efficienttrain++ family's budget-scaled value (DeiT-S 0.1 E/200)
    global_pool: str = "avg"


@dataclass
class DataConfig:
    dataset: Literal["imagefolder", "cifar10", "cifar100", "flowers102", "stanford_dogs", "synthetic"] = "imagefolder"
    path: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    num_workers: int = 8
    on_corrupt: Literal["error", "skip"] = "error"
    # full: Pillow in the workers; reduced: JPEGs decoded at 1/2-1/8 scale when the crop allows; device: decoded and
    # cropped on the training device (nvJPEG on a GPU, batched libjpeg-turbo on the CPU); box: decoded in the workers,
    # the crop box resampled on the device (engine.crop)
    decode: Literal["full", "reduced", "device", "box"] = "full"
    # with decode=reduced: the training images decoded once at 1/cache_scale (1, 2, 4, 8) and held in memory; the
    # crops read them where the box allows that reduction (engine.decoded_cache); null: decode every sample's file
    cache_scale: int | None = None
    synthetic_length: int = 512
    synthetic_classes: int = 10

    def __post_init__(self):
        check_cache_scale(self.cache_scale, self.decode)  # refused at config load, before any model is built


@dataclass
class AugConfig:
    randaug_layers: int = 2
    randaug_mstd: float = 0.5
    randaug_on: Literal["loader", "device"] | None = None  # None: device with data.decode device / box, else loader
    min_scale: float = 0.08
    mixup: float = 0.8
    cutmix: float = 1.0
    smoothing: float = 0.1
    reprob: float = 0.25
    crop_pct: float | None = None  # eval centre crop; None: 0.875 up to 224 px, 1.0 above (DeiT / MAE)


@dataclass
class OptimConfig:
    batch_size: int = 64  # per device
    global_batch: int | None = None  # the recipe's; accum_iter is then derived from the world size (engine.batch)
    accum_iter: int | None = None  # None: from global_batch, else 1
    blr: float = 5e-4
    layer_decay: float | None = 0.65
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: float = 5.0  # used unless the schedule brings its own (efficienttrain++ families)
    min_lr: float = 1e-6
    clip_grad: float | None = None
    ema_decay: float | None = None  # e.g. 0.9999 to keep (and evaluate) an EMA of the weights


@dataclass
class FinetuneConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    aug: AugConfig = field(default_factory=AugConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(preset="baseline", epochs=100))
    run: RunConfig = field(default_factory=lambda: RunConfig(output_dir="output/finetune", save_every=0))
