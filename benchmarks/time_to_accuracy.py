"""Does the curriculum reach the baseline's accuracy in less wall time? Baseline and curricula, same recipe, seeds.

Every run is a real training run of our trainers (``finetune`` / ``pretrain_mae``) in this process, one after the
other; only the ``schedule:`` differs. Each epoch record gives validation top-1, the training wall time so far
(evaluation and checkpoint writing excluded) and the cost model's computation so far in final-size epochs.

(a) supervised training from scratch of a micro DeiT-style ViT (patch 8, width 96, 4 blocks) on an ImageNet-style
    folder at 64 px (Tiny-ImageNet-20 in the tests' data), with four schedules:
    ``baseline`` (E epochs), ``efficienttrain`` (E epochs, EfficientTrain Table 1 scaled to 64 px),
    ``efficienttrain++`` at a budget of 2E/3 (the TPAMI paper's 1.5x protocol, the official DeiT-S stage list
    ``_ET_pp_main_deitS.py``) and ``baseline-short``: the baseline cut to the computation of ``efficienttrain`` (its
    cosine schedule compressed), which separates the curriculum from simply training less.
(b) MAE pre-training (``baseline`` and ``efficienttrain``, same epochs) followed by the same fine-tuning from each
    encoder: the recipe of (a)'s baseline with the encoder loaded. Both use the same training images.

Time-to-accuracy of a run: the training wall time of its first epoch whose top-1 reaches the target, the mean final
top-1 of the E-epoch baseline ("never" if it does not). Writes ``OUT/results.json`` (every curve and the summary),
``OUT/results.md`` (the tables) and ``OUT/top1_vs_wall.png``::

    python benchmarks/time_to_accuracy.py --data $EFFICIENTTRAIN_DATA/tiny-imagenet-20 --out benchmarks/results/tta_cpu
    python benchmarks/time_to_accuracy.py --quick --data $EFFICIENTTRAIN_DATA/tiny-imagenet-20 --out /tmp/tta
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curriculum import ScheduleConfig, ViTCost, build_schedule, cost_report  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.distributed import resolve_device  # noqa: E402
from finetune.config import FinetuneConfig  # noqa: E402
from finetune.train import finetune  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402
from pretrain_mae.train import pretrain  # noqa: E402

from benchmarks.provenance import command, commit, device_name  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MODEL = {"name": "vit_tiny_patch16_224", "patch_size": 8, "embed_dim": 96, "depth": 4, "num_heads": 3}

# (a) and the fine-tuning of (b): a DeiT-style recipe for a short run from scratch, fixed before any run and never
# tuned on the validation split the tables report. Mixup / CutMix and random erasing are off for runs this short.
SUPERVISED = {
    "model": {**MODEL, "pretrained": None, "drop_path": 0.0, "global_pool": "avg"},
    "aug": {"randaug_layers": 2, "randaug_mstd": 0.5, "min_scale": 0.25, "mixup": 0.0, "cutmix": 0.0,
            "smoothing": 0.1, "reprob": 0.0},
    "optim": {"batch_size": 128, "blr": 2.0e-3, "layer_decay": None, "weight_decay": 0.05, "warmup_epochs": 1.0,
              "min_lr": 1.0e-5},
    "run": {"save_every": 0, "log_images_every": 0, "resume": None},
}
# (b) pre-training: configs/pretrain/tiny_imagenet20_cpu.yaml (the same micro ViT as the encoder).
PRETRAIN_CONFIG = CONFIGS / "pretrain" / "tiny_imagenet20_cpu.yaml"


def _overrides(tree: dict, prefix: str = "") -> list[str]:
    """``{"a": {"b": 1}}`` -> ``["a.b=1"]`` (the ``--set`` syntax of every trainer)."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += _overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}")
    return out


def subset(data: Path, out: Path, per_class: int | None, val_per_class: int | None = None) -> Path:
    """``data`` itself, or a folder of symlinks to the first ``per_class`` training (and ``val_per_class``
    validation; None: all) images of every class, in sorted order."""
    if per_class is None and val_per_class is None:
        return data
    if out.exists():
        shutil.rmtree(out)
    for split, count in (("train", per_class), ("val", val_per_class)):
        classes = sorted(p for p in (data / split).iterdir() if p.is_dir()) if (data / split).is_dir() else []
        if not classes:
            raise FileNotFoundError(f"{data / split} holds no class folders")
        for folder in classes:
            target = out / split / folder.name
            target.mkdir(parents=True)
            for image in sorted(folder.iterdir())[:count]:
                (target / image.name).symlink_to(image.resolve())
    return out


def schedules(epochs: float) -> dict[str, dict]:
    """The ``schedule:`` section of every compared run (final size 64, the micro ViT's patch 8)."""
    et = build_schedule(ScheduleConfig(preset="efficienttrain", epochs=epochs, final_size=64), 8, report=None)
    relative = cost_report(et, ViTCost(MODEL["depth"], MODEL["embed_dim"], MODEL["patch_size"])).relative_computation
    return {"baseline": {"preset": "baseline", "epochs": epochs},
            "efficienttrain": {"preset": "efficienttrain", "epochs": epochs},
            "efficienttrain++": {"preset": "efficienttrain++", "epochs": round(2 * epochs / 3, 4),
                                 "family": "deit_small"},
            "baseline-short": {"preset": "baseline", "epochs": round(epochs * relative, 4)}}


def read_curve(run_dir: Path, metric: str | None) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{"epoch": r["epoch"] + 1, "epochs_done": r["epochs_done"], "wall_s": r["train_time_s"],
             "computation": r["computation"], **({"top1": r[metric]} if metric else {"loss": r["loss"]})}
            for r in rows]


def run_supervised(data: Path, out: Path, schedule: dict, seed: int, args,
                   pretrained: Path | None = None) -> list[dict]:
    tree = {**SUPERVISED, "data": {"dataset": "imagefolder", "path": str(data), "num_workers": args.workers},
            "schedule": {**schedule, "final_size": 64}}
    tree["optim"] = {**tree["optim"], "batch_size": args.batch_size}
    tree["model"] = {**tree["model"], "pretrained": str(pretrained) if pretrained else None}
    tree["run"] = {**tree["run"], "seed": seed, "output_dir": str(out), "progress": False}
    if out.exists():
        shutil.rmtree(out)
    finetune(load_config(FinetuneConfig, None, _overrides(tree)))
    return read_curve(out, "top1")


def run_pretrain(data: Path, out: Path, schedule: dict, seed: int, args) -> list[dict]:
    tree = {"data": {"path": str(data), "num_workers": args.workers}, "optim": {"batch_size": args.batch_size // 2},
            "schedule": {**schedule, "final_size": 64},
            "run": {"seed": seed, "output_dir": str(out), "progress": False, "save_every": 0,
                    "log_images_every": 0, "resume": None}}
    if out.exists():
        shutil.rmtree(out)
    pretrain(load_config(PretrainConfig, PRETRAIN_CONFIG, _overrides(tree)))
    return read_curve(out, None)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def time_to(curve: list[dict], target: float) -> float | None:
    """Training wall time of the first record of ``curve`` whose top-1 reaches ``target`` (None: never)."""
    return next((point["wall_s"] for point in curve if point["top1"] >= target), None)


def summarize(runs: list[dict], reference: str = "baseline") -> dict:
    """Per schedule: final top-1 mean and std, wall time, computation, time-to-accuracy against ``reference``."""
    names = list(dict.fromkeys(r["schedule"] for r in runs))
    by_name = {n: [r for r in runs if r["schedule"] == n] for n in names}
    target = statistics.fmean(r["curve"][-1]["top1"] for r in by_name[reference])
    base_wall = statistics.fmean(r["curve"][-1]["wall_s"] for r in by_name[reference])
    base_computation = statistics.fmean(r["curve"][-1]["computation"] for r in by_name[reference])
    rows = []
    for name, group in by_name.items():
        top1, top1_std = _mean_std([r["curve"][-1]["top1"] for r in group])
        wall, wall_std = _mean_std([r["curve"][-1]["wall_s"] for r in group])
        computation = statistics.fmean(r["curve"][-1]["computation"] for r in group)
        reached = [t for t in (time_to(r["curve"], target) for r in group) if t is not None]
        tta = statistics.fmean(reached) if reached else None
        rows.append({"schedule": name, "seeds": len(group), "top1_mean": top1, "top1_std": top1_std,
                     "wall_s_mean": wall, "wall_s_std": wall_std, "computation": computation,
                     "wall_speedup": base_wall / wall, "computation_speedup": base_computation / computation,
                     "reached_target": f"{len(reached)}/{len(group)}", "time_to_target_s": tta,
                     "time_to_accuracy_speedup": base_wall / tta if tta else None})
    return {"target_top1": target, "rows": rows}


def experiment_a(args, data: Path) -> dict:
    runs = []
    for seed in range(args.seeds):  # seed-major: a slow phase of the machine hits every schedule alike
        for name, schedule in schedules(args.epochs).items():
            started = time.perf_counter()
            curve = run_supervised(data, args.out / "runs" / "a" / name / f"seed{seed}", schedule, seed, args)
            runs.append({"schedule": name, "seed": seed, "config": schedule, "curve": curve,
                         "process_s": time.perf_counter() - started})
            print(f"[a] {name} seed {seed}: top-1 {curve[-1]['top1']:.2f} in {curve[-1]['wall_s']:.0f} s",
                  flush=True)
    return {"runs": runs, "summary": summarize(runs)}


def experiment_b(args, data: Path) -> dict:
    runs = []
    for seed in range(args.seeds):
        for name in ("baseline", "efficienttrain"):
            out = args.out / "runs" / "b" / name / f"seed{seed}"
            pre = run_pretrain(data, out / "pretrain", {"preset": name, "epochs": args.pretrain_epochs}, seed, args)
            curve = run_supervised(data, out / "finetune", {"preset": "baseline", "epochs": args.finetune_epochs},
                                   seed, args, pretrained=out / "pretrain" / "encoder.pth")
            runs.append({"schedule": name, "seed": seed, "pretrain_curve": pre, "curve": curve,
                         "pretrain_wall_s": pre[-1]["wall_s"], "pretrain_computation": pre[-1]["computation"]})
            print(f"[b] {name} seed {seed}: pre-training {pre[-1]['wall_s']:.0f} s, fine-tuned top-1 "
                  f"{curve[-1]['top1']:.2f}", flush=True)
    summary = summarize(runs)
    for row in summary["rows"]:  # what (b) compares is the pre-training cost
        group = [r for r in runs if r["schedule"] == row["schedule"]]
        row["pretrain_wall_s_mean"], row["pretrain_wall_s_std"] = _mean_std([r["pretrain_wall_s"] for r in group])
        row["pretrain_computation"] = statistics.fmean(r["pretrain_computation"] for r in group)
    base = summary["rows"][0]
    for row in summary["rows"]:
        row["pretrain_wall_speedup"] = base["pretrain_wall_s_mean"] / row["pretrain_wall_s_mean"]
    return {"runs": runs, "summary": summary}


def markdown(report: dict) -> str:
    def fmt(value, spec=".1f"):
        return "never" if value is None else format(value, spec)

    lines = [f"device: {report['device']}; commit {report['commit']}; seeds {report['seeds']}; "
             f"`{report['command']}`", ""]
    if "a" in report:
        s = report["a"]["summary"]
        lines += [f"(a) supervised from scratch, {report['epochs']:g} epochs, {report['train_images']} training "
                  f"images; target = baseline's mean final top-1 {s['target_top1']:.2f}", "",
                  "| schedule | top-1 (mean ± std) | train wall s | wall speedup | computation (final-size epochs) "
                  "| computation speedup | reached target | time to target s | time-to-accuracy speedup |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['schedule']} | {r['top1_mean']:.2f} ± {r['top1_std']:.2f} | {r['wall_s_mean']:.0f} ± "
                  f"{r['wall_s_std']:.0f} | {r['wall_speedup']:.2f}x | {r['computation']:.2f} | "
                  f"{r['computation_speedup']:.2f}x | {r['reached_target']} | {fmt(r['time_to_target_s'], '.0f')} "
                  f"| {fmt(r['time_to_accuracy_speedup'], '.2f')}{'x' if r['time_to_accuracy_speedup'] else ''} |"
                  for r in s["rows"]]
        lines.append("")
    if "b" in report:
        s = report["b"]["summary"]
        lines += [f"(b) MAE pre-training {report['pretrain_epochs']:g} epochs, then the same fine-tuning "
                  f"({report['finetune_epochs']:g} epochs, baseline schedule) from each encoder", "",
                  "| pre-training schedule | pre-training wall s | pre-training wall speedup | pre-training "
                  "computation | fine-tuned top-1 (mean ± std) |", "|---|---|---|---|---|"]
        lines += [f"| {r['schedule']} | {r['pretrain_wall_s_mean']:.0f} ± {r['pretrain_wall_s_std']:.0f} | "
                  f"{r['pretrain_wall_speedup']:.2f}x | {r['pretrain_computation']:.2f} | "
                  f"{r['top1_mean']:.2f} ± {r['top1_std']:.2f} |" for r in s["rows"]]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    """(a): top-1 against training wall time, the mean over seeds per epoch with a ±1 std band; (b): fine-tuned
    top-1 against fine-tuning epoch from each encoder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("a", "b") if k in report]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for axis, key in zip(axes[0], panels):
        runs = report[key]["runs"]
        for name in dict.fromkeys(r["schedule"] for r in runs):
            curves = [r["curve"] for r in runs if r["schedule"] == name]
            points = min(len(c) for c in curves)
            x_key = "wall_s" if key == "a" else "epoch"
            x = [statistics.fmean(c[i][x_key] for c in curves) for i in range(points)]
            y = [statistics.fmean(c[i]["top1"] for c in curves) for i in range(points)]
            band = [_mean_std([c[i]["top1"] for c in curves])[1] for i in range(points)]
            axis.plot(x, y, marker=".", label=name)
            axis.fill_between(x, [a - b for a, b in zip(y, band)], [a + b for a, b in zip(y, band)], alpha=0.2)
        axis.axhline(report[key]["summary"]["target_top1"], color="gray", linestyle=":", linewidth=1)
        axis.set_xlabel("training wall time (s)" if key == "a" else "fine-tuning epoch")
        axis.set_ylabel("validation top-1 (%)")
        axis.set_title("(a) from scratch" if key == "a" else "(b) fine-tuned from MAE encoders (by pre-training)")
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ImageNet-style folder with train/ and val/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a structure check: 8 training and 5 validation "
                                                             "images a class, 2 epochs, 1 seed, batch 16")
    parser.add_argument("--experiments", default="a,b", help="a, b or a,b")
    parser.add_argument("--epochs", type=float, default=8, help="(a): E, the baseline's epochs")
    parser.add_argument("--pretrain-epochs", type=float, default=6, help="(b): MAE pre-training epochs")
    parser.add_argument("--finetune-epochs", type=float, default=4, help="(b): fine-tuning epochs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--images-per-class", type=int, default=150,
                        help="training images a class for (a) and (b) (0: all)")
    parser.add_argument("--batch-size", type=int, default=128, help="supervised batch; MAE pre-training uses half "
                                                                     "(configs/pretrain/tiny_imagenet20_cpu.yaml: 64)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    experiments = set(args.experiments.split(","))
    if not experiments or not experiments <= {"a", "b"}:
        parser.error(f"--experiments takes a, b or a,b; got {args.experiments!r}")
    if args.quick:
        args.epochs = args.pretrain_epochs = args.finetune_epochs = 2
        args.seeds, args.images_per_class, args.batch_size = 1, 8, 16
    val_per_class = 5 if args.quick else None
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    per_class = args.images_per_class or None
    supervised_data = subset(args.data, args.out / "subset", per_class, val_per_class)
    report = {"device": device_name(resolve_device("auto")), "commit": commit(), "seeds": args.seeds,
              "command": command("time_to_accuracy.py", argv),
              "data": str(args.data), "epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs,
              "finetune_epochs": args.finetune_epochs,
              "train_images": sum(1 for _ in (supervised_data / "train").glob("*/*")),
              "recipe": {"model": MODEL, "supervised": SUPERVISED, "pretrain_config": str(PRETRAIN_CONFIG.name)},
              "schedules": schedules(args.epochs)}
    if "a" in experiments:
        report["a"] = experiment_a(args, supervised_data)
    if "b" in experiments:
        report["b"] = experiment_b(args, supervised_data)
    (args.out / "results.json").write_text(json.dumps(report, indent=1))
    (args.out / "results.md").write_text(markdown(report))
    plot(report, args.out / "top1_vs_wall.png")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
