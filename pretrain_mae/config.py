"""Configuration of MAE pre-training (``configs/pretrain/*.yaml``; defaults follow MAE's ViT-B recipe)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from curriculum import ScheduleConfig
from engine.config import RunConfig
from engine.decoded_cache import check_cache_scale
from readout.curve import EvalConfig

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


@dataclass
class ModelConfig:
    name: str = "mae_vit_base"  # mae_vit_{tiny,small,base,large,huge}
    patch_size: int | None = None  # None keeps the preset's value; the other fields likewise
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    decoder_embed_dim: int | None = None
    decoder_depth: int | None = None
    decoder_num_heads: int | None = None
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True


@dataclass
class DataConfig:
    path: str | None = None  # ImageNet-style root holding <split>/<class>/<image>; None: generated demo images
    split: str = "train"
    num_workers: int = 8
    on_corrupt: Literal["error", "skip"] = "error"  # error: stop naming the file; skip: replace, log and count it
    min_scale: float = 0.2  # RandomResizedCrop scale range (min_scale, 1)
    # reduced: JPEGs decoded at 1/2-1/8 scale when the crop allows; device: decoded and cropped on the training
    # device (nvJPEG on a GPU; engine.device_decode); box: decoded in the workers, the crop box resampled on the
    # device (a GPU without a hardware JPEG decoder)
    decode: Literal["full", "reduced", "device", "box"] = "full"
    # with decode=reduced: the training images decoded once at 1/cache_scale (1, 2, 4, 8) and held in memory; the
    # crops read them where the box allows that reduction (engine.decoded_cache); null: decode every sample's file
    cache_scale: int | None = None
    synthetic_length: int = 512
    synthetic_size: int = 64

    def __post_init__(self):
        check_cache_scale(self.cache_scale, self.decode)  # refused at config load, before any model is built


@dataclass
class OptimConfig:
    batch_size: int = 64  # per device, at the final size (a stage's batch_scale multiplies it)
    global_batch: int | None = None  # the recipe's; accum_iter is then derived from the world size (engine.batch)
    accum_iter: int | None = None  # None: from global_batch, else 1
    blr: float = 1.5e-4  # lr = blr * global_batch / 256
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 40.0  # used unless the schedule brings its own (efficienttrain++ families)
    min_lr: float = 0.0
    clip_grad: float | None = None


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(epochs=800))
    run: RunConfig = field(default_factory=lambda: RunConfig(output_dir="output/pretrain_mae"))
    eval: EvalConfig = field(default_factory=EvalConfig)  # a kNN curve during pre-training (readout.curve)
