"""Does wall time follow computation? MAE pre-training throughput per curriculum stage, measured side by side.

For every input size a schedule uses, on the same model, data and loader code as ``python -m pretrain_mae``
(``MAETask``, ``CurriculumSamples``, one loader with persistent workers):

* loader only: images/s through decode, augmentation, collation, transfer and the device-side normalisation and
  low-frequency crop, with no model;
* model only: images/s of forward, backward and optimizer step on batches already on the device;
* end to end: images/s of the two together, its ratio to the model-only rate (where the loader, or a main process
  starved of CPU by it, holds the model back, this falls even when little time is spent blocked on the loader),
  and the share of the step time spent waiting for the loader;
* crop share: the batched low-frequency crop's share of a model step (``fft`` mode; 0 where the loader does it);
* with ``--profile-dir``: a few more end-to-end steps under ``torch.profiler``, their trace, and the share of their
  wall time in which the GPU ran a kernel or a copy (what end to end lost to the host, whether loader or launches);
* with ``--fold k``: sizes below the final one run batches ``k`` times larger (``schedule.fold``, the official
  launchers' larger per-GPU batch at low resolution); every measured step also steps the optimizer, as with
  ``optim.accum_iter=1``, so a folded size is measured with one optimizer step per ``k`` batches' worth of images.

A schedule's wall time is then ``sum over stages of (epochs of the stage) / (end-to-end images/s at its size)``, and
the measured speedup over the baseline is compared with the cost model's (``curriculum.cost_report``). Measuring
each size in its steady state, rather than running every schedule to the end, keeps the comparison side by side in
one process and cheap enough to repeat; the composition is exact for a loop whose stages only differ in size.

    python benchmarks/make_jpeg_folder.py --source PHOTOS --out /tmp/jpegs --images 2000
    python benchmarks/pretrain_speed.py --data /tmp/jpegs --json benchmarks/results/cpu.json      # CPU, 224 px
    python benchmarks/pretrain_speed.py --data /data/imagenet --model mae_vit_base --batch 256 --workers 16 \\
        --json benchmarks/results/gpu.json                                                    # GPU, bf16, ViT-B
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curriculum import (Schedule, ScheduleConfig, Stage, StageValues, StepPlan, build_schedule,  # noqa: E402
                        cost_report, low_frequency_crop)
from engine.config import load_config  # noqa: E402
from engine.data import CurriculumSamples, make_train_loader  # noqa: E402
from engine.decode_ahead import loader_batches  # noqa: E402
from engine.distributed import DistInfo, resolve_device  # noqa: E402
from engine.runtime import compile_model, resolve_amp  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402
from pretrain_mae.data import build_dataset  # noqa: E402
from pretrain_mae.train import MAETask  # noqa: E402

from benchmarks.provenance import command, commit, device_name, write_json  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Probe:
    """The trainer's task, data and loader at one input size."""

    def __init__(self, cfg: PretrainConfig, info: DistInfo, final_size: int, amp, profile_dir: Path | None = None,
                 profile_steps: int = 4, fold: int = 1):
        self.cfg, self.info, self.amp = cfg, info, amp
        self.profile_dir, self.profile_steps, self.fold = profile_dir, profile_steps, fold
        self.task = MAETask(cfg, info, final_size)
        self.model = compile_model(self.task.model, self.task.model, cfg.run.compile)
        for group in self.task.optimizer.param_groups:
            group["lr"] = 1e-5
        self.dataset = build_dataset(cfg.data, cfg.run.seed)
        self.final_size = final_size
        self._values: dict[int, StageValues] = {}

    def batch(self, size: int) -> int:
        """The step's batch at ``size``: ``fold`` times the configured one below the final size (``Stage.fold``)."""
        return self.cfg.optim.batch_size * (self.fold if size < self.final_size else 1)

    def samples(self, size: int) -> CurriculumSamples:
        """The trainer's dataset view for a stage at ``size`` (its transform, seeding and decode path)."""
        schedule = Schedule("probe", 1000, (Stage(0.0, 1.0, size),))  # long enough never to end
        plan = StepPlan(schedule, len(self.dataset), self.batch(size))
        return CurriculumSamples(self.dataset, self.cfg.run.seed, plan, self.task.transform)

    def values(self, size: int) -> StageValues:
        """The stage values of the probe at ``size`` (worked out once a size: ``prepare`` asks at every step)."""
        if size not in self._values:
            self._values[size] = self.samples(size).plan.values(0)
        return self._values[size]

    def batches(self, size: int):
        """The trainer's batches at ``size`` (``with``: with ``data.decode=device``, decoded ahead as it does)."""
        loader = make_train_loader(self.samples(size), self.info, self.cfg.run.seed, self.cfg.data.num_workers)
        return loader_batches(loader, self.cfg.data.decode, self.info.device, self.cfg.data.on_corrupt)

    def prepare(self, batch, size: int):
        images, targets, keys, _ = batch
        keys = keys.to(self.info.device)
        images = self.task.on_device(images.to(self.info.device, non_blocking=True), keys, self.values(size))
        if images.shape[-1] != size:
            images = low_frequency_crop(images, size)
        return images, targets.to(self.info.device), keys

    def step(self, images, targets, keys, step: int) -> None:
        with torch.autocast(self.info.device.type, dtype=self.amp or torch.bfloat16, enabled=self.amp is not None):
            loss = self.task.loss(self.model, images, targets, keys, step)
        loss.backward()
        self.task.optimizer.step()
        self.task.optimizer.zero_grad(set_to_none=True)

    def loader_rate(self, size: int, steps: int, warmup: int) -> float:
        """Images/s through the loader and the device-side preparation, with no model."""
        with self.batches(size) as it:
            for _ in range(warmup):
                self.prepare(next(it), size)
            sync(self.info.device)
            start = time.perf_counter()
            for _ in range(steps):
                self.prepare(next(it), size)
            sync(self.info.device)
            return steps * self.batch(size) / (time.perf_counter() - start)

    def measure(self, size: int, steps: int, warmup: int) -> dict:
        device, batch = self.info.device, self.batch(size)
        loader_rate = self.loader_rate(size, steps, warmup)

        with self.batches(size) as it:  # model only
            images, targets, keys = self.prepare(next(it), size)
        sync(device)
        start = time.perf_counter()
        for i in range(warmup):
            self.step(images, targets, keys, i)
        sync(device)
        warmup_s = time.perf_counter() - start  # with --compile, this stage size's compilation
        start = time.perf_counter()
        for i in range(steps):
            self.step(images, targets, keys, i)
        sync(device)
        step_s = (time.perf_counter() - start) / steps
        full = torch.randint(0, 256, (batch, 3, self.final_size, self.final_size), dtype=torch.uint8, device=device)
        full = self.task.on_device(full, torch.arange(batch, device=device), self.values(size))
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            low_frequency_crop(full, size)
        sync(device)
        on_path = size < self.final_size and self.cfg.schedule.low_frequency == "fft"  # the device-side crop
        crop_s = (time.perf_counter() - start) / steps if on_path else 0.0

        with self.batches(size) as it:  # end to end
            for i in range(warmup):
                self.step(*self.prepare(next(it), size), i)
            sync(device)
            waited, start = 0.0, time.perf_counter()
            for i in range(steps):
                t = time.perf_counter()
                loaded = next(it)
                waited += time.perf_counter() - t
                self.step(*self.prepare(loaded, size), i)
            sync(device)
            total = time.perf_counter() - start
            profiled = self.profile(it, size) if self.profile_dir else {}
        end_to_end = steps * batch / total
        return {"size": size, "batch": batch, "loader_images_per_s": loader_rate, "model_images_per_s": batch / step_s,
                "end_to_end_images_per_s": end_to_end, "end_to_end_over_model": end_to_end * step_s / batch,
                "data_wait_share": waited / total, "crop_share": crop_s / step_s, "model_warmup_s": warmup_s,
                **profiled}

    def profile(self, batches, size: int) -> dict:
        """``profile_steps`` more end-to-end steps under ``torch.profiler``: their trace (Chrome format, gzip, in
        ``profile_dir``) and the share of their wall time in which the device ran a kernel or a copy
        (``device_busy_share``; CUDA only): below 1, the step waits on the host, whatever the loader-wait says."""
        device = self.info.device
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with torch.profiler.profile(activities=activities) as prof:
            for i in range(self.profile_steps):
                self.step(*self.prepare(next(batches), size), i)
            sync(device)
        path = self.profile_dir / f"end_to_end_{size}.json.gz"
        prof.export_chrome_trace(str(path))
        events = prof.events()
        kernels = [(e.time_range.start, e.time_range.end) for e in events if e.device_type == DeviceType.CUDA]
        start, end = min(e.time_range.start for e in events), max(e.time_range.end for e in events)
        return {"trace": str(path), "device_busy_share": busy_share(kernels, start, end) if kernels else None}


def busy_share(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """The share of ``[start, end]`` covered by the union of ``intervals`` (overlapping kernels count once)."""
    covered, reach = 0.0, start
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, end)
        if b > a:
            covered, reach = covered + b - a, b
    return covered / (end - start) if end > start else 0.0


def schedules(args, patch: int) -> dict[str, Schedule]:
    out = {"baseline": build_schedule(ScheduleConfig("baseline", args.epochs, args.final_size), patch, None)}
    if "efficienttrain" in args.presets:
        out["efficienttrain"] = build_schedule(ScheduleConfig("efficienttrain", args.epochs, args.final_size),
                                               patch, None)
    if "efficienttrain++" in args.presets:  # the 1.5x protocol: a budget of 2/3 of the baseline's epochs
        out["efficienttrain++"] = build_schedule(ScheduleConfig("efficienttrain++", args.epochs * 2 / 3,
                                                                args.final_size, family=args.family), patch, None)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ImageNet-style folder (DIR/train/<class>/*.JPEG); "
                                                                "default: generated images")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG of the per-stage throughputs")
    parser.add_argument("--model", default="mae_vit_tiny")
    parser.add_argument("--final-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each measurement")
    parser.add_argument("--epochs", type=float, default=300, help="baseline epochs (schedules are compared at it)")
    parser.add_argument("--presets", nargs="+", default=["efficienttrain", "efficienttrain++"])
    parser.add_argument("--family", default="mae_vit")
    parser.add_argument("--low-frequency", default="fft", choices=["fft", "fft-loader", "resize"])
    parser.add_argument("--decode", default="full", choices=["full", "reduced", "device", "box"],
                        help="data.decode")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="auto")
    parser.add_argument("--compile", nargs="?", const="true", default="false", choices=["false", "true", "blocks"],
                        help="run.compile: the whole model (--compile) or each repeated block (--compile blocks)")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="also profile --profile-steps end-to-end steps per size: traces here, and the share of "
                             "the time the GPU was busy")
    parser.add_argument("--profile-steps", type=int, default=None, help="steps profiled per size (default 4)")
    parser.add_argument("--fold", type=int, default=1,
                        help="schedule.fold: below the final size, steps on batches this many times larger")
    args = parser.parse_args(argv)
    if args.profile_steps is not None and args.profile_dir is None:
        parser.error("--profile-steps needs --profile-dir (where the traces go)")
    if args.profile_steps is not None and args.profile_steps < 1:
        parser.error(f"--profile-steps must be >= 1, got {args.profile_steps}")
    if args.fold < 1:
        parser.error(f"--fold must be >= 1, got {args.fold}")
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)

    overrides = [f"model.name={args.model}", f"data.num_workers={args.workers}", f"optim.batch_size={args.batch}",
                 f"schedule.final_size={args.final_size}", f"schedule.low_frequency={args.low_frequency}",
                 f"data.decode={args.decode}",
                 f"run.device={args.device}", f"run.amp={args.amp}", f"run.compile={args.compile}"]
    overrides += [f"data.path={args.data}"] if args.data else ["data.path=null", "data.synthetic_length=512",
                                                              f"data.synthetic_size={args.final_size}"]
    cfg = load_config(PretrainConfig, None, overrides)
    device = resolve_device(args.device)
    info = DistInfo(0, 0, 1, device)
    torch.manual_seed(0)
    probe = Probe(cfg, info, args.final_size, resolve_amp(args.amp, device, None), args.profile_dir,
                  args.profile_steps or 4, args.fold)
    plans = schedules(args, probe.task.model.arch.patch_size)
    sizes = sorted({s.size for schedule in plans.values() for s in schedule.stages})
    print(STAGE_HEADER)
    stages = {}
    for size in sizes:  # each row as soon as it is measured, so a run stopped early still reports
        stages[size] = probe.measure(size, args.steps, args.warmup)
        print(stage_row(stages[size]), flush=True)

    cost = probe.task.model.cost_model()
    results = {}
    for name, schedule in plans.items():
        wall = sum((s.end - s.start) * schedule.epochs / stages[s.size]["end_to_end_images_per_s"]
                   for s in schedule.stages)
        results[name] = {"wall_per_image_s": wall, "epochs": schedule.epochs, "budget": schedule.budget,
                         "model_speedup": cost_report(schedule, cost, baseline_epochs=args.epochs).speedup,
                         "stages": [{"stage": i, "epochs": (s.end - s.start) * schedule.epochs, **stages[s.size]}
                                    for i, s in enumerate(schedule.stages)]}
    for result in results.values():
        result["measured_speedup"] = results["baseline"]["wall_per_image_s"] / result["wall_per_image_s"]
        result["measured_over_model"] = result["measured_speedup"] / result["model_speedup"]
    report = {"device": device_name(device),
              "model": args.model, "data": str(args.data) if args.data else "generated",
              "final_size": args.final_size, "batch": args.batch, "workers": args.workers,
              "amp": str(probe.amp), "low_frequency": args.low_frequency, "decode": args.decode,
              "compile": args.compile, "fold": args.fold, "commit": commit(),
              "command": command("pretrain_speed.py", argv),
              "sizes": list(stages.values()), "schedules": results}
    first = next(n for n in results if n != "baseline")
    report.update(measured_speedup=results[first]["measured_speedup"], model_speedup=results[first]["model_speedup"],
                  stages=results[first]["stages"], primary_schedule=first)
    print_report(report)
    write_json(args.json, report)
    if args.plot:
        plot(report, args.plot)
    return report


def print_report(report: dict) -> None:
    print(f"\nMAE {report['model']} at {report['final_size']} px, batch {report['batch']}, {report['workers']} "
          f"workers, {report['device']}, data: {report['data']}, low frequencies: {report['low_frequency']}, "
          f"decode: {report.get('decode', 'full')}, compile: {report.get('compile', 'false')}, "
          f"fold: {report.get('fold', 1)}")
    print(STAGE_HEADER)
    for s in report["sizes"]:
        print(stage_row(s))
    busy = [(s["size"], s["device_busy_share"]) for s in report["sizes"] if s.get("device_busy_share") is not None]
    if busy:
        print("device busy, end to end (profiled): " + ", ".join(f"B = {b}: {share:.0%}" for b, share in busy))
    print(f"\n{'schedule':<18} {'measured':>9} {'cost model':>11} {'ratio':>6}")
    for name, r in report["schedules"].items():
        print(f"{name:<18} {r['measured_speedup']:>8.2f}x {r['model_speedup']:>10.2f}x {r['measured_over_model']:>6.2f}")


STAGE_HEADER = (f"{'B':>5} {'loader img/s':>13} {'model img/s':>12} {'end-to-end':>11} {'e2e/model':>10} "
                f"{'data wait':>10} {'crop share':>11} {'warm-up s':>10}")


def stage_row(s: dict) -> str:
    return (f"{s['size']:>5} {s['loader_images_per_s']:>13.1f} {s['model_images_per_s']:>12.1f} "
            f"{s['end_to_end_images_per_s']:>11.1f} {s['end_to_end_over_model']:>10.0%} "
            f"{s['data_wait_share']:>10.1%} {s['crop_share']:>11.1%} {s['model_warmup_s']:>10.1f}")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s["size"] for s in report["sizes"]]
    fig, axis = plt.subplots(figsize=(6, 3.5))
    width = 0.27
    for k, (key, label) in enumerate((("loader_images_per_s", "loader only"), ("model_images_per_s", "model only"),
                                      ("end_to_end_images_per_s", "end to end"))):
        axis.bar([i + (k - 1) * width for i in range(len(sizes))], [s[key] for s in report["sizes"]], width,
                 label=label)
    axis.set_xticks(range(len(sizes)), [str(b) for b in sizes])
    axis.set_xlabel("input size B")
    axis.set_ylabel("images / s")
    speedups = ", ".join(f"{n}: {r['measured_speedup']:.2f}x (model {r['model_speedup']:.2f}x)"
                         for n, r in report["schedules"].items() if n != "baseline")
    axis.set_title(f"{report['model']}, {report['device']}\n{speedups}", fontsize=8)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
