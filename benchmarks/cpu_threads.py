"""Do torch's threads and the loader workers contend on a small CPU? One run of the time-to-accuracy recipe, twice.

The same supervised run (``benchmarks/time_to_accuracy.py``'s recipe and its ``efficienttrain++`` schedule for
``--model`` at ``--final-size``: 24-64 px for the micro ViT, 27-64 px for a ResNet) is trained with torch using
every core (what the trainers do, the workers beside it at low priority: ``engine.runtime.worker_nice``) and with
only the cores the loader workers leave (``OMP_NUM_THREADS``), one after the other in this process.
Prints and writes, per input size, the mean epoch time, images/s and data-wait share of each, and their ratio::

    python benchmarks/cpu_threads.py --data $EFFICIENTTRAIN_DATA/tiny-imagenet-20 \
        --json benchmarks/results/tta_cpu/threads.json
    python benchmarks/cpu_threads.py --data $EFFICIENTTRAIN_DATA/imagenette --model resnet10t --epochs 6 \
        --json benchmarks/results/tta_imagenette_cpu/threads.json

Before the workers ran at low priority, which split was faster depended on the model and the size (the JSONs above,
measured then): the micro ViT gained from leaving the worker its core at every size; ``resnet10t`` gained from it
at 27 px and lost at 64 px, where a second thread paid more than the worker's core.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.provenance import command, commit, device_name, write_json  # noqa: E402
from benchmarks.time_to_accuracy import check_model, model_section, run_supervised, schedules, subset  # noqa: E402
from engine.cli import main_guard  # noqa: E402
from engine.distributed import resolve_device  # noqa: E402


def per_size(run_dir: Path) -> dict[int, dict]:
    """Mean epoch time, images/s and data-wait share of a run's records, by input size (the first record, which
    includes starting the workers, left out)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][1:]
    out = {}
    for size in sorted({r["size"] for r in records}):
        rows = [r for r in records if r["size"] == size]
        out[size] = {key: statistics.fmean(r[key] for r in rows)
                     for key in ("epoch_time_s", "images_per_s", "data_wait_share")}
    return out


@main_guard()
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ImageNet-style folder with train/ and val/")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cpu_threads"), help="run folders")
    parser.add_argument("--epochs", type=float, default=8, help="the baseline's E (efficienttrain++ budget: 2E/3)")
    parser.add_argument("--images-per-class", type=int, default=150, help="training images a class")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default="micro_vit", help="a timm model name or micro_vit (default micro_vit)")
    parser.add_argument("--final-size", type=int, default=64)
    args = parser.parse_args(argv)
    check_model(parser, args.model)
    data = subset(args.data, args.out / "subset", args.images_per_class)
    schedule = schedules(args.epochs, args.model, args.final_size)["efficienttrain++"]
    every_core, previous = os.cpu_count() or 1, torch.get_num_threads()
    results, totals = {}, {}
    for name in ("every_core", "cores_left_by_workers"):
        threads = every_core if name == "every_core" else max(1, every_core - args.workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
        curve = run_supervised(data, args.out / name, schedule, 0,
                               SimpleNamespace(workers=args.workers, batch_size=args.batch_size, progress=False,
                                               decode="full", cache_scale=None, randaug_on=None),
                               model_section(args.model))
        results[name] = per_size(args.out / name)
        totals[name] = {"train_time_s": curve[-1]["wall_s"], "top1": curve[-1]["top1"]}
    torch.set_num_threads(previous)
    report = {"device": device_name(resolve_device("cpu")), "commit": commit(), "workers": args.workers,
              "model": args.model, "final_size": args.final_size,
              "schedule": schedule, "command": command("cpu_threads.py", argv),
              "totals": totals,
              "per_size": {name: {str(k): v for k, v in rows.items()} for name, rows in results.items()}}
    print(f"{'B':>4} {'epoch s, every core':>20} {'epoch s, cores left':>20} {'speedup':>8} {'data wait':>16}")
    for size, row in results["every_core"].items():
        left = results["cores_left_by_workers"][size]
        print(f"{size:>4} {row['epoch_time_s']:>20.1f} {left['epoch_time_s']:>20.1f} "
              f"{row['epoch_time_s'] / left['epoch_time_s']:>7.2f}x "
              f"{row['data_wait_share']:>7.0%} -> {left['data_wait_share']:.0%}")
    every, left = totals["every_core"], totals["cores_left_by_workers"]
    print(f"whole run: {every['train_time_s']:.0f} s -> {left['train_time_s']:.0f} s "
          f"({every['train_time_s'] / left['train_time_s']:.2f}x), top-1 {every['top1']} -> {left['top1']}")
    write_json(args.json, report, indent=1)
    return report


if __name__ == "__main__":
    main()
