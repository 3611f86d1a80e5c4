"""Where the supervised step's time goes on the CPU, stage by stage, and the trainer's speed before against after.

For every stage size of the time-to-accuracy experiment (a) (``benchmarks/time_to_accuracy.py``: ``baseline``,
``efficienttrain`` and ``efficienttrain++`` of ``--model`` at ``--final-size``), with the stage's RandAugment
magnitude:

* loader: CPU time per image of one worker's sample (``CurriculumSamples``: seeding, decode, RandomResizedCrop,
  flip, RandAugment at the final size, tensor), measured in one process with one thread (``time.process_time``) in
  each checkout given (with the arm's ``data.decode`` and ``data.cache_scale``), and in this one for each
  ``data.decode`` and ``aug.randaug_on`` variant (``device``: the batched RandAugment's CPU time per image in the
  training process, ``engine.randaugment``) and from the decoded cache at 1/2 (``engine.decoded_cache``);
* model: images/s of forward, backward and AdamW step alone at the stage's size (batch ``--batch-size``, torch's
  threads), beside the rate proportional to pixels from the final size;
* crop: the training process's ms per image of the batch's low-frequency crop from the final size to the stage's
  (``curriculum.low_frequency_crop``, batch ``--batch-size``, torch's threads), by FFTs and by matrix products;
* trainer: images/s of a short ``python -m finetune`` run at the stage (a schedule file of two epochs at the stage's
  size, then one at the final size; the (a) recipe, ``--images`` training images; the second epoch's record, which
  leaves out evaluation), for every arm
  ``--arm NAME=CHECKOUT[,KEY=VALUE...]`` (upper-case keys are environment variables, dotted keys trainer
  overrides), the arms interleaved in ``--rounds`` rounds so that a drift of the machine reaches them alike.

    python benchmarks/supervised_costs.py --data $EFFICIENTTRAIN_DATA/imagenette \\
        --arm before=/tmp/before,OMP_NUM_THREADS=2,data.num_workers=1 --arm after=.,data.num_workers=2 \\
        --json benchmarks/results/cpu_supervised_costs.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.provenance import command, commit, device_name, portable, write_json  # noqa: E402
from benchmarks.time_to_accuracy import (SUPERVISED, _overrides, check_model, model_section, schedules,  # noqa: E402
                                         subset, supervised_recipe)
from curriculum import ScheduleConfig, build_schedule, low_frequency_crop  # noqa: E402
from engine.cli import main_guard  # noqa: E402
from engine.distributed import resolve_device  # noqa: E402
from engine.runtime import fused_optimizer  # noqa: E402

_LOADER_SNIPPET = """
import json, sys, time, torch
from dataclasses import fields
from curriculum import Schedule, Stage, StepPlan
from engine.data import CurriculumSamples, ImageFolderDataset, collate_samples
from finetune.config import AugConfig
from finetune.transforms import train_transform
args = json.loads(sys.argv[1])
torch.set_num_threads(1)
torch.utils.data.get_worker_info = lambda: True  # timed as in a loader worker (engine.data seeds without restoring)
known = {f.name for f in fields(AugConfig)}
aug = AugConfig(**{k: v for k, v in args["aug"].items() if k in known})
data = ImageFolderDataset(args["train"])
if args["cache"]:
    from engine.decoded_cache import attach_decoded_cache
    attach_decoded_cache(data, args["cache"], args["decode"], report=None)
out = []
for size, magnitude in args["stages"]:
    plan = StepPlan(Schedule("probe", 1000, (Stage(0.0, 1.0, size, (magnitude, magnitude)),)), len(data), 128)
    extra = [args["decode"]] if args["decode"] else []
    samples = CurriculumSamples(data, 0, plan, lambda v: train_transform(aug, args["final"], v.magnitude, v.size,
                                                                         "fft", *extra))
    index = list(range(0, len(data), max(1, len(data) // args["images"])))[:args["images"]]
    items = [samples[(i, 0, 0)] for i in index]  # the files read once: the page cache as in a long run
    start = time.process_time()
    items = [samples[(i, 0, 0)] for i in index]
    worker = (time.process_time() - start) / len(index)
    main = 0.0
    if args["device_augment"]:
        from engine.randaugment import BatchedRandAugment
        images, _, keys, _ = collate_samples(items)
        if not isinstance(images, torch.Tensor):
            images = images.decode(torch.device("cpu"))
        start = time.process_time()
        BatchedRandAugment(aug.randaug_layers, aug.randaug_mstd)(images, keys, magnitude)
        main = (time.process_time() - start) / len(index)
    out.append({"size": size, "magnitude": magnitude, "worker_ms": 1000 * worker, "main_ms": 1000 * main})
print(json.dumps(out))
"""


def stages(model: str, final_size: int, epochs: float) -> list[tuple[int, float]]:
    """``(size, RandAugment magnitude at the stage's middle)`` of every stage size of (a)'s schedules, the baseline's
    final size first."""
    found: dict[int, float] = {}
    for name, section in schedules(epochs, model, final_size).items():
        if name == "baseline-short":
            continue
        patch = model_section(model).get("patch_size")
        schedule = build_schedule(ScheduleConfig(**section), patch, report=None, default_family="resnet")
        for stage in schedule.stages:
            found.setdefault(stage.size, round(sum(stage.magnitude) / 2, 2))
    return sorted(found.items(), key=lambda item: (item[0] != final_size, -item[0]))


def loader_costs(checkout: Path, train: Path, stage_list, final_size: int, images: int, decode: str | None = None,
                 randaug_on: str | None = None, cache_scale: int | None = None) -> list[dict]:
    """The worker's (and with RandAugment on the device, the training process's) CPU ms per image, by stage, in
    ``checkout``'s code; with ``cache_scale``, reading the decoded cache (``engine.decoded_cache``, built first)."""
    aug = {**SUPERVISED["aug"], **({"randaug_on": randaug_on} if randaug_on else {})}
    args = {"train": str(train), "stages": stage_list, "final": final_size, "images": images, "aug": aug,
            "decode": decode, "device_augment": randaug_on == "device", "cache": cache_scale}
    done = subprocess.run([sys.executable, "-c", _LOADER_SNIPPET, json.dumps(args)], cwd=checkout, check=True,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(checkout)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_rate(model: str, size: int, batch: int, steps: int) -> float:
    """Images/s of forward, backward and AdamW step alone on random batches at ``size`` (AdamW fused as the trainers
    run it, ``engine.runtime.fused_optimizer``)."""
    import timm
    net = timm.create_model(model_section(model)["name"], num_classes=10)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=fused_optimizer(torch.device("cpu")))
    images, targets = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(images), targets).backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def crop_ms(final_size: int, size: int, batch: int, method: str, repeats: int = 20) -> float:
    """Milliseconds per image of ``low_frequency_crop(method)`` on a float batch from ``final_size`` to ``size``."""
    images = torch.rand(batch, 3, final_size, final_size) * 255
    low_frequency_crop(images, size, method)
    start = time.perf_counter()
    for _ in range(repeats):
        low_frequency_crop(images, size, method)
    return 1000 * (time.perf_counter() - start) / (repeats * batch)


def trainer_rate(checkout: Path, settings: dict[str, str], data: Path, size: int, magnitude: float, args,
                 work: Path) -> float:
    """Images/s of the second epoch of a ``finetune`` run in ``checkout`` with ``settings`` whose first two epochs
    are at ``size`` (below the final size, a third at the final size ends the schedule there)."""
    schedule = work / f"stage{size}.yaml"
    stages = [{"start": 0.0, "end": 2 / 3, "size": size, "magnitude": [magnitude, magnitude]},
              {"start": 2 / 3, "end": 1.0, "size": args.final_size, "magnitude": [magnitude, magnitude]}]
    if size == args.final_size:
        stages = [{**stages[0], "end": 1.0}]
    schedule.write_text(json.dumps({"name": f"stage{size}", "epochs": 3, "progress_by": "epochs", "stages": stages}))
    tree = {**supervised_recipe(model_section(args.model), args.batch_size),
            "data": {"dataset": "imagefolder", "path": str(data)},
            "schedule": {"file": str(schedule), "epochs": 3 if size < args.final_size else 2,
                         "final_size": args.final_size}}
    out = work / "run"
    tree["run"] = {**tree["run"], "output_dir": str(out), "progress": False}
    overrides = _overrides(tree) + [f"{k}={v}" for k, v in settings.items() if not k.isupper()]
    env = {**os.environ, "PYTHONPATH": str(checkout), **{k: v for k, v in settings.items() if k.isupper()}}
    done = subprocess.run([sys.executable, "-m", "finetune", *sum((["--set", o] for o in overrides), [])],
                          cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the {size} px run in {checkout} failed: {done.stderr.strip().splitlines()[-1:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[1]["size"] == size, records[1]
    return records[1]["images_per_s"]


def _cache_scale(settings: dict[str, str]) -> int | None:
    value = settings.get("data.cache_scale", "null")
    return None if value in ("null", "None") else int(value)


def arm_by_commit(text: str, revision: str) -> str:
    """``--arm NAME=CHECKOUT[,...]`` as recorded: the checkout named by its commit, not by its path."""
    name, _, rest = text.partition("=")
    _, _, settings = rest.partition(",")
    return f"{name}=<checkout of {revision}>" + (f",{settings}" if settings else "")


def parse_arm(text: str) -> tuple[str, Path, dict[str, str]]:
    name, _, rest = text.partition("=")
    checkout, *pairs = rest.split(",")
    if not name or not checkout or not all("=" in p for p in pairs):
        raise ValueError(f"--arm takes NAME=CHECKOUT[,KEY=VALUE...], got {text!r}")
    if not (Path(checkout) / "finetune").is_dir():
        raise FileNotFoundError(f"--arm {name}: {checkout} is not a checkout of this repository (no finetune/)")
    return name, Path(checkout).resolve(), dict(p.split("=", 1) for p in pairs)


@main_guard()
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ImageNet-style folder with train/ and val/")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--model", default="resnet10t")
    parser.add_argument("--final-size", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=10, help="(a)'s E, for its schedules' stages")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=1920, help="training images of a trainer run (per epoch)")
    parser.add_argument("--loader-images", type=int, default=256, help="images timed for the loader's cost")
    parser.add_argument("--arm", action="append", default=[], help="NAME=CHECKOUT[,KEY=VALUE...] (repeatable; "
                                                                    "default: after=. with the trainer's defaults)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model-steps", type=int, default=6)
    args = parser.parse_args(argv)
    check_model(parser, args.model)
    arms = [parse_arm(a) for a in args.arm or [f"after={Path(__file__).resolve().parents[1]}"]]
    here = Path(__file__).resolve().parents[1]
    stage_list = stages(args.model, args.final_size, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = subset(args.data, work / "subset", max(1, args.images // 10), 5)
        train = args.data / "train"
        loader = {name: loader_costs(checkout, train, stage_list, args.final_size, args.loader_images,
                                     settings.get("data.decode"), None, _cache_scale(settings))
                  for name, checkout, settings in arms}
        variants = {f"{decode}, RandAugment on the {on}": loader_costs(here, train, stage_list, args.final_size,
                                                                      args.loader_images, decode, on)
                    for decode in ("full", "reduced") for on in ("loader", "device")}
        variants["reduced from the decoded cache at 1/2, RandAugment on the loader"] = loader_costs(
            here, train, stage_list, args.final_size, args.loader_images, "reduced", "loader", 2)
        model = {size: model_rate(args.model, size, args.batch_size, args.model_steps) for size, _ in stage_list}
        crop = {size: {method: crop_ms(args.final_size, size, args.batch_size, method) for method in ("fft", "matrix")}
                for size, _ in stage_list if size < args.final_size}
        runs: dict[str, dict[int, list[float]]] = {name: {size: [] for size, _ in stage_list} for name, *_ in arms}
        for _ in range(args.rounds):
            for size, magnitude in stage_list:
                for name, checkout, settings in arms:
                    runs[name][size].append(trainer_rate(checkout, settings, data, size, magnitude, args, work))
    final = args.final_size
    rows = []
    for size, magnitude in stage_list:
        row = {"size": size, "magnitude": magnitude, "pixels_vs_final": round((final / size) ** 2, 3),
               "model_images_per_s": round(model[size], 1),
               "model_share_of_pixel_rate": round(model[size] / model[final] / (final / size) ** 2, 3),
               "crop_ms_per_image": {m: round(v, 4) for m, v in crop.get(size, {}).items()}}
        for name, *_ in arms:
            rate = statistics.fmean(runs[name][size])
            row[name] = {"loader_worker_ms": round(_at(loader[name], size)["worker_ms"], 3),
                         "trainer_images_per_s": round(rate, 1),
                         "trainer_images_per_s_rounds": [round(r, 1) for r in runs[name][size]],
                         "trainer_share_of_pixel_rate": round(rate / statistics.fmean(runs[name][final]) /
                                                              (final / size) ** 2, 3)}
        row["loader_variants_ms"] = {v: {"worker": round(_at(c, size)["worker_ms"], 3),
                                         "training_process": round(_at(c, size)["main_ms"], 3)}
                                     for v, c in variants.items()}
        rows.append(row)
    recorded = command("supervised_costs.py", argv)
    for text, (_, checkout, _) in zip(args.arm, arms):
        recorded = recorded.replace(text, arm_by_commit(text, commit(checkout)))
    report = {"device": device_name(resolve_device("cpu")), "cores": os.cpu_count(), "commit": commit(),
              "command": recorded, "data": portable(str(args.data)),
              "model": args.model, "batch_size": args.batch_size, "final_size": final,
              "arms": {name: {"checkout_commit": commit(checkout), "settings": settings}
                       for name, checkout, settings in arms},
              "stages": rows}
    print(table(report))
    write_json(args.json, report, indent=1)
    return report


def _at(costs: list[dict], size: int) -> dict:
    return next(c for c in costs if c["size"] == size)


def table(report: dict) -> str:
    arms = list(report["arms"])
    head = ["B", "m", "model img/s", "model / pixel rate", "crop ms/img FFT / matrix"] + [
        f"{a} {k}" for a in arms for k in ("loader ms/img", "trainer img/s", "trainer / pixel rate")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["stages"]:
        crop = row["crop_ms_per_image"]
        cells = [row["size"], row["magnitude"], row["model_images_per_s"], row["model_share_of_pixel_rate"],
                 f"{crop['fft']:.3f} / {crop['matrix']:.3f}" if crop else "-"]
        for a in arms:
            cells += [row[a]["loader_worker_ms"], row[a]["trainer_images_per_s"], row[a]["trainer_share_of_pixel_rate"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    variants = list(report["stages"][0]["loader_variants_ms"])
    lines += ["", "| B | " + " | ".join(f"{v}: worker / training process ms" for v in variants) + " |",
              "|---|" + "---|" * len(variants)]
    for row in report["stages"]:
        lines.append(f"| {row['size']} | " + " | ".join(
            f"{c['worker']:.3f} / {c['training_process']:.3f}" for c in row["loader_variants_ms"].values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
