"""Wall-time speedup of a curriculum over the baseline for MAE pre-training, measured side by side in one run.

Both runs train the same model on the same images for the same epochs through the real trainer; the table gives
images/s per stage, total wall time, the measured speedup, the cost model's computation speedup and their ratio,
and the share of a training step spent in ``low_frequency_crop``.

    python benchmarks/pretrain_speed.py                          # CPU, micro ViT, generated images (minutes)
    python benchmarks/pretrain_speed.py --model mae_vit_base --final-size 224 --batch 256 --epochs 10 \
        --images 25600 --workers 12 --micro 0                    # GPU, ViT-B, bf16
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict

import torch

from curriculum import build_schedule, cost_report, low_frequency_crop
from engine.config import load_config
from pretrain_mae.config import PretrainConfig
from pretrain_mae.model import build_mae
from pretrain_mae.train import pretrain

MICRO = ["model.patch_size=8", "model.embed_dim=128", "model.depth=4", "model.num_heads=4",
         "model.decoder_embed_dim=64", "model.decoder_depth=2", "model.decoder_num_heads=4"]


def crop_ms(batch: int, final: int, size: int, device: torch.device, repeats: int = 10) -> float:
    images = torch.randn(batch, 3, final, final, device=device)
    low_frequency_crop(images, size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        low_frequency_crop(images, size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / repeats


def run(preset: str, args, out: str) -> tuple[list[dict], PretrainConfig]:
    overrides = [f"model.name={args.model}", "data.path=null", f"data.synthetic_length={args.images}",
                 f"data.synthetic_size={args.final_size}", f"data.num_workers={args.workers}",
                 f"optim.batch_size={args.batch}", "optim.warmup_epochs=1", f"schedule.preset={preset}",
                 f"schedule.epochs={args.epochs}", f"schedule.final_size={args.final_size}",
                 f"run.output_dir={out}", "run.resume=null", "run.save_every=0", "run.log_images_every=0",
                 "run.progress=false", f"run.device={args.device}"] + (MICRO if args.micro else [])
    cfg = load_config(PretrainConfig, None, overrides)
    pretrain(cfg)
    with open(f"{out}/metrics.jsonl") as handle:
        return [json.loads(line) for line in handle], cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mae_vit_tiny")
    parser.add_argument("--micro", type=int, default=1, help="shrink the model to a micro ViT (CPU)")
    parser.add_argument("--preset", default="efficienttrain")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--final-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("baseline", args.preset):
            results[preset] = run(preset, args, f"{tmp}/{preset}")
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    cfg = results[args.preset][1]
    m = cfg.model
    model = build_mae(m.name, m.mask_ratio, patch_size=m.patch_size, embed_dim=m.embed_dim, depth=m.depth,
                      num_heads=m.num_heads, decoder_embed_dim=m.decoder_embed_dim, decoder_depth=m.decoder_depth,
                      decoder_num_heads=m.decoder_num_heads)
    schedule = build_schedule(cfg.schedule, model.arch.patch_size, None, default_family="mae_vit")
    computation = cost_report(schedule, model.cost_model(), baseline_epochs=args.epochs).speedup

    print(f"\nMAE pre-training, {args.model}{' (micro)' if args.micro else ''}, {args.images} images x "
          f"{args.epochs} epochs, batch {args.batch}, device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}")
    print(f"{'run':<16} {'stage':>5} {'B':>4} {'images/s':>9} {'wall s':>8} {'crop share':>10}")
    walls = {}
    for preset, (records, _) in results.items():
        by_stage = defaultdict(lambda: [0.0, 0, 0])
        for r in records:
            entry = by_stage[(r["stage"], r["size"])]
            entry[0] += r["epoch_time_s"]
            entry[1] += r["images_per_s"] * r["epoch_time_s"]
            entry[2] += 1
        for (stage, size), (wall, images, epochs) in sorted(by_stage.items()):
            steps = images / args.batch
            share = crop_ms(args.batch, args.final_size, size, device) / (1000 * wall / steps) if size < \
                args.final_size else 0.0
            print(f"{preset:<16} {stage:>5} {size:>4} {images / wall:>9.1f} {wall:>8.2f} {share:>9.1%}")
        walls[preset] = sum(r["epoch_time_s"] for r in records)
    measured = walls["baseline"] / walls[args.preset]
    print(f"\nwall time: baseline {walls['baseline']:.2f} s, {args.preset} {walls[args.preset]:.2f} s")
    print(f"measured wall-time speedup {measured:.2f}x | cost-model computation speedup {computation:.2f}x | "
          f"measured / model {measured / computation:.2f}")


if __name__ == "__main__":
    main()
