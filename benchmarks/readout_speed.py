"""How long do the readouts take at ImageNet scale? The probe's feature pass and kNN for a ViT, timed on one device.

(1) Feature pass: the frozen encoder (timm ``--model``, eval mode, no head; random weights, which do not change its
    speed) over batches of ``--size`` px images already on the device, bf16 autocast on a GPU, float32 on a CPU:
    images/s. The cached probe and the kNN readout pass ImageNet's 1,281,167 + 50,000 images through it once; MAE's
    protocol probe passes the training set once an epoch.
(2) kNN: ``readout.knn.knn_predict`` on a random bank of ``--bank`` rows (1.28 M for ImageNet) and ``--queries``
    queries (50,000) of the encoder's width, k = 20 and 200, with its default chunks: seconds, and the bank's memory.

Loading and decoding images is not timed (``loader_costs.py`` measures it). Writes ``--json`` with the device and
the commit::

    python benchmarks/readout_speed.py --json benchmarks/results/gpu_readout_speed_vit_base.json   # ViT-B/16
    python benchmarks/readout_speed.py --quick --json /tmp/readout_speed.json                       # CPU, a minute
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.cli import main_guard  # noqa: E402
from engine.distributed import resolve_device  # noqa: E402
from engine.runtime import resolve_amp  # noqa: E402
from readout.config import EncoderConfig  # noqa: E402
from readout.encoder import build_encoder  # noqa: E402
from readout.features import feature_dim, pooled_features  # noqa: E402
from readout.knn import knn_predict  # noqa: E402

from benchmarks.provenance import command, commit, device_name, write_json  # noqa: E402

IMAGENET = {"train": 1_281_167, "val": 50_000}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def feature_rate(model, device, batch: int, size: int, steps: int, warmup: int, repeats: int) -> list[float]:
    """Images/s of the class-token and average-pooled features, one value per repeat."""
    images = torch.randn(batch, 3, size, size, device=device)
    amp = resolve_amp("auto", device, None)
    rates = []
    for _ in range(repeats):
        for step in range(warmup + steps):
            if step == warmup:
                synchronize(device)
                started = time.perf_counter()
            with torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                pooled_features(model, images, ["cls", "avg"])
        synchronize(device)
        rates.append(batch * steps / (time.perf_counter() - started))
    return rates


def knn_seconds(dim: int, bank: int, queries: int, device, repeats: int) -> list[float]:
    """Seconds of ``knn_predict`` (k = 20, 200) on random features, one value per repeat."""
    generator = torch.Generator(device=device).manual_seed(0)
    bank_x = torch.randn(bank, dim, device=device, generator=generator)
    labels = torch.randint(0, 1000, (bank,), device=device, generator=generator)
    query_x = torch.randn(queries, dim, device=device, generator=generator)
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        knn_predict(bank_x, labels, query_x, 1000, ks=(20, 200), distributed=False)
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return seconds


@main_guard()
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--model", default="vit_base_patch16_224", help="a timm model (default ViT-B/16)")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bank", type=int, default=IMAGENET["train"])
    parser.add_argument("--queries", type=int, default=IMAGENET["val"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="ViT-Ti at 64 px, a 20,000-row bank: a CPU check")
    args = parser.parse_args(argv)
    if args.quick:
        args.model, args.size, args.batch, args.steps, args.warmup = "vit_tiny_patch16_224", 64, 16, 2, 1
        args.repeats, args.bank, args.queries = 1, 20_000, 1_000
    device = resolve_device(args.device)
    model = build_encoder(EncoderConfig(name=args.model, img_size=args.size), args.size).to(device)
    rates = feature_rate(model, device, args.batch, args.size, args.steps, args.warmup, args.repeats)
    dim = feature_dim(model)
    seconds = knn_seconds(dim, args.bank, args.queries, device, args.repeats)
    rate, knn = statistics.median(rates), statistics.median(seconds)
    report = {"device": device_name(device), "commit": commit(), "command": command("readout_speed.py", argv),
              "model": args.model, "size": args.size, "batch": args.batch, "dim": dim,
              "feature_images_per_s": rates, "knn_bank": args.bank, "knn_queries": args.queries,
              "knn_bank_gib": args.bank * dim * 4 / 2 ** 30, "knn_seconds": seconds,
              "imagenet_feature_pass_s": sum(IMAGENET.values()) / rate}
    print(f"{report['device']}, {args.model} at {args.size} px, batch {args.batch}: features {rate:.0f} images/s "
          f"(ImageNet train + val once: {report['imagenet_feature_pass_s'] / 60:.1f} min); kNN of {args.queries} "
          f"queries against {args.bank} x {dim} ({report['knn_bank_gib']:.2f} GiB): {knn:.1f} s")
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
