"""Does decoding JPEGs at reduced scale pay? ``data.decode=full`` against ``data.decode=reduced``, side by side in
one process, through the trainer's own transform, dataset and loader (``pretrain_speed.Probe``):

* worker cost: milliseconds per image to read and transform it, both ways on the same images with the same crop
  boxes, interleaved image by image (a ratio that the load of a shared machine hardly moves);
* loader throughput: loader-only images/s, the two alternating ``--repeats`` times (median).

Rows: ``resize`` mode at every size given (the loader produces ``B x B``, so its crop shrinks by ``box / B``) and
``fft`` mode at the final size (the loader always produces the final size; the crop to ``B`` runs on the device).
Each row also reports the share of crops that libjpeg decodes at 1/2, 1/4 and 1/8 scale, from boxes drawn as the
loader draws them on the folder's image sizes.

    python benchmarks/make_jpeg_folder.py --source $EFFICIENTTRAIN_DATA/coco-mini --out /tmp/jpeg-bench --images 2000
    python benchmarks/reduced_decode.py --data /tmp/jpeg-bench --json benchmarks/results/cpu_reduced_decode.json
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config import load_config  # noqa: E402
from engine.decode import RandomResizedCropDecode  # noqa: E402
from engine.distributed import DistInfo  # noqa: E402
from engine.random_crop import draw_box  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402

from benchmarks.pretrain_speed import Probe  # noqa: E402
from benchmarks.provenance import command, commit, device_name, write_json  # noqa: E402


def scale_shares(paths: list[str], size: int, min_scale: float, draws: int = 4) -> dict[str, float]:
    """Share of crops decoded at each libjpeg scale (``"1"`` = full) for output ``size``, over ``paths``' sizes."""
    if not paths:
        raise ValueError("no images to draw crop boxes from")
    crop = RandomResizedCropDecode(size, scale=(min_scale, 1.0))
    generator_state = random.getstate()
    random.seed(0)
    counts = Counter()
    for path in paths:
        with Image.open(path) as image:  # the header only
            width, height = image.size
        for _ in range(draws):
            _, _, h, w = draw_box(width, height, crop.scale, crop.ratio)
            counts[str(crop.dct_scale(w, h))] += 1
    random.setstate(generator_state)
    total = sum(counts.values())
    return {s: counts[s] / total for s in ("1", "2", "4", "8")}


def worker_ms(full: Probe, reduced: Probe, size: int, count: int) -> dict[str, float]:
    """Milliseconds per image for a loader worker to produce ``count`` samples of the folder at stage size ``size``
    (``CurriculumSamples``, as in training), each both ways (same seed, so the same box) in alternating order."""
    samples = {"full": full.samples(size), "reduced": reduced.samples(size)}
    seconds = {"full": 0.0, "reduced": 0.0}
    indices = range(0, len(full.dataset), max(1, len(full.dataset) // count))[:count]
    for n, index in enumerate(indices):
        for decode in ("full", "reduced") if n % 2 == 0 else ("reduced", "full"):
            start = time.perf_counter()
            samples[decode][(index, 0, 0)]
            seconds[decode] += time.perf_counter() - start
    return {decode: 1000 * t / len(indices) for decode, t in seconds.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ImageNet-style folder of JPEGs (DIR/train/...)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 160, 192, 224], help="resize-mode sizes B")
    parser.add_argument("--final-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="alternating full / reduced measurements per row")
    parser.add_argument("--images", type=int, default=400, help="images timed one by one for the worker cost")
    args = parser.parse_args(argv)

    info = DistInfo(0, 0, 1, torch.device("cpu"))
    rows = [("resize", b) for b in args.sizes] + [("fft", args.final_size)]
    probes = {}
    for mode in dict.fromkeys(m for m, _ in rows):
        for decode in ("full", "reduced"):
            cfg = load_config(PretrainConfig, None, [
                "model.name=mae_vit_tiny", f"data.path={args.data}", f"data.num_workers={args.workers}",
                f"data.decode={decode}", f"optim.batch_size={args.batch}", f"schedule.final_size={args.final_size}",
                f"schedule.low_frequency={mode}", "run.device=cpu"])
            probes[mode, decode] = Probe(cfg, info, args.final_size, None)
    first = probes[rows[0][0], "full"]
    paths = [p for p, _ in first.dataset.samples][::max(1, len(first.dataset) // 500)]  # about 500 image sizes
    min_scale = first.cfg.data.min_scale

    results = []
    for mode, size in rows:
        rates = {"full": [], "reduced": []}
        for _ in range(args.repeats):
            for decode in rates:
                rates[decode].append(probes[mode, decode].loader_rate(size, args.steps, args.warmup))
        full, reduced = statistics.median(rates["full"]), statistics.median(rates["reduced"])
        cost = worker_ms(probes[mode, "full"], probes[mode, "reduced"], size, args.images)
        loader_size = size if mode == "resize" else args.final_size
        results.append({"low_frequency": mode, "size": size, "full_ms_per_image": cost["full"],
                        "reduced_ms_per_image": cost["reduced"], "worker_speedup": cost["full"] / cost["reduced"],
                        "full_images_per_s": full, "reduced_images_per_s": reduced, "speedup": reduced / full,
                        "runs": rates, "dct_scale_share": scale_shares(paths, loader_size, min_scale)})
    report = {"device": device_name(info.device), "data": str(args.data), "final_size": args.final_size,
              "batch": args.batch, "workers": args.workers, "commit": commit(),
              "command": command("reduced_decode.py", argv),
              "rows": results}
    print(f"\n{report['device']}, data: {args.data}; worker ms/image ({args.images} images, interleaved); "
          f"loader only ({args.workers} workers, batch {args.batch}, median of {args.repeats})")
    print(f"{'mode':<7} {'B':>4} {'full ms':>8} {'reduced ms':>11} {'speedup':>8} {'full img/s':>11} "
          f"{'reduced img/s':>14} {'speedup':>8}  crops at 1/1, 1/2, 1/4, 1/8")
    for r in results:
        shares = ", ".join(f"{v:.0%}" for v in r["dct_scale_share"].values())
        print(f"{r['low_frequency']:<7} {r['size']:>4} {r['full_ms_per_image']:>8.2f} {r['reduced_ms_per_image']:>11.2f} "
              f"{r['worker_speedup']:>7.2f}x {r['full_images_per_s']:>11.1f} {r['reduced_images_per_s']:>14.1f} "
              f"{r['speedup']:>7.2f}x  {shares}")
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()
