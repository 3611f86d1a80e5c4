"""The kNN curve of MAE pre-training and its cost: baseline and curriculum on the same data, recipe and seed.

Each schedule is one ``pretrain_mae`` run of ``--config`` (default ``configs/pretrain/imagenette_cpu.yaml``, whose
``eval:`` section draws the curve with ``readout.curve``) in this process, one after the other; only
``schedule.preset`` differs. From each run's ``metrics.jsonl`` the report takes every evaluation's kNN top-1 with the
training wall time and computation so far (evaluation excluded), and the curve's cost: its evaluations plus the
one-time decoding of the bank and validation images, against the training wall time. The schedule ``random`` is no
training at all: the same monitor reads the config's MAE at its initialisation (the run's seed), the level a
pre-trained curve must rise above. Writes ``OUT/results.json``
(rewritten after every run; a rerun skips the schedules it holds), ``OUT/results.md`` and ``OUT/knn_vs_wall.png``::

    python benchmarks/knn_curve.py --data DIR --out OUT                 # DIR: train/ and val/ class folders
    python benchmarks/knn_curve.py --data DIR --out OUT --seed 1       # another seed beside: <schedule>-seed1
    python benchmarks/knn_curve.py --data DIR --out OUT --epochs 40 --schedules baseline efficienttrain++
    python benchmarks/knn_curve.py --quick --data DIR --out /tmp/curve  # a structure check in a minute
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.cli import main_guard  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.crop import normalize_on_device  # noqa: E402
from engine.distributed import DistInfo, resolve_device  # noqa: E402
from engine.runtime import seed_everything  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402
from pretrain_mae.model import MaskedAutoencoderViT  # noqa: E402
from pretrain_mae.train import arch_of, pretrain  # noqa: E402
from readout.curve import KNNMonitor  # noqa: E402

from benchmarks.provenance import command, commit, device_name, portable, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUICK = ["schedule.epochs=3", "model.embed_dim=64", "model.depth=2", "model.num_heads=2", "model.decoder_depth=1",
         "model.decoder_embed_dim=32", "model.decoder_num_heads=2", "optim.batch_size=32", "eval.bank_per_class=10",
         "eval.val_per_class=5", "eval.every=1", "data.num_workers=0"]


def curve(out: Path) -> dict:
    """The evaluated records of a run and the curve's cost."""
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    points = [{k: r[k] for k in ("epoch", "stage", "size", "train_time_s", "computation", "eval_time_s")} |
              {k[len("knn/"):]: v for k, v in r.items() if k.startswith("knn/")} for r in records if "eval_time_s" in r]
    last = records[-1]
    return {"points": points, "train_time_s": last["train_time_s"], "computation": last["computation"],
            "evaluations": len(points), "eval_time_s": last["eval_time_total_s"],
            "eval_setup_s": round(last["eval_time_total_s"] - sum(p["eval_time_s"] for p in points), 3),
            "eval_share": round(last["eval_time_total_s"] / last["train_time_s"], 4),
            "final": {k: v for k, v in points[-1].items() if "_k" in k}}


def initial_mae(cfg: PretrainConfig) -> MaskedAutoencoderViT:
    """The MAE of ``cfg`` at its initialisation (seeded with ``run.seed``), on the CPU."""
    seed_everything(cfg.run.seed)
    return MaskedAutoencoderViT(arch_of(cfg), cfg.model.mask_ratio, cfg.model.norm_pix_loss,
                                img_size=cfg.schedule.final_size)


def random_row(cfg: PretrainConfig, model: MaskedAutoencoderViT | None = None) -> dict:
    """The monitor's reading of the untrained MAE of ``cfg`` (``model``: that MAE, already built)."""
    device = resolve_device(cfg.run.device)  # where the pre-training runs train
    model = (model or initial_mae(cfg)).to(device)
    monitor = KNNMonitor(cfg.eval, DistInfo(0, 0, 1, device), cfg.schedule.final_size)
    final = {k[len("knn/"):]: v for k, v in monitor(model, normalize_on_device).items()}
    return {"points": [{"epoch": None, "train_time_s": 0.0, "computation": 0.0, **final}], "train_time_s": 0.0,
            "computation": 0.0, "evaluations": 1, "final": final}


def table(report: dict) -> str:
    keys = list(next(iter(report["runs"].values()))["final"])
    lines = [f"kNN curve of `{report['config']}` on {report['data']}", "",
             "| schedule | training wall | computation | evaluations | curve's cost (share of training) | "
             + " | ".join(f"final kNN {k}" for k in keys) + " | device, commit |", "|---" * (6 + len(keys)) + "|"]
    for name, run in report["runs"].items():
        cost = (f"{run['eval_time_s']:.1f} s ({100 * run['eval_share']:.1f} %, set-up {run['eval_setup_s']:.1f} s)"
                if "eval_share" in run else "-")
        lines.append(f"| {name} | {run['train_time_s']:.0f} s | {run['computation']:.2f} epochs | "
                     f"{run['evaluations']} | {cost} | " + " | ".join(f"{run['final'][k]:.1f}" for k in keys) +
                     f" | {run['device']}, `{run['commit']}` |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in report["runs"][next(iter(report["runs"]))]["final"] if k.endswith(("_k20", "_k5"))]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    colours = {}
    for ax, key in zip(axes[0], keys):
        for name, run in report["runs"].items():
            schedule, _, seed = name.partition("-seed")
            colour = "grey" if schedule == "random" else colours.setdefault(schedule, f"C{len(colours)}")
            style = ":" if seed else "-"  # seed 0 solid, further seeds dotted
            label = "random initialisation" if schedule == "random" else schedule
            if schedule == "random":
                ax.axhline(run["final"][key], color=colour, linestyle=style, label=label if not seed else None)
                continue
            ax.plot([p["train_time_s"] for p in run["points"]], [p[key] for p in run["points"]], "o", color=colour,
                    linestyle=style, label=label if not seed else None)
        ax.set(xlabel="training wall time (s, evaluation excluded)", ylabel=f"kNN top-1 (%), {key}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@main_guard()
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ImageNet-style root (train/ and val/ class folders)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--config", default=str(REPO / "configs/pretrain/imagenette_cpu.yaml"))
    parser.add_argument("--schedules", nargs="+", default=["baseline", "efficienttrain", "random"],
                        help="schedule presets, and random (no training)")
    parser.add_argument("--epochs", type=float, help="pre-training epochs (default: the config's)")
    parser.add_argument("--seed", type=int, default=0, help="run.seed; runs of another seed than 0 are named "
                        "<schedule>-seed<N>")
    parser.add_argument("--quick", action="store_true", help="3 epochs of a smaller micro ViT: a structure check")
    args = parser.parse_args(argv)
    data = Path(args.data)
    for split in ("train", "val"):
        if not (data / split).is_dir():
            raise FileNotFoundError(f"--data {data} has no {split}/ folder of classes")
    results = args.out / "results.json"
    report = json.loads(results.read_text()) if results.is_file() else {"runs": {}}
    config = Path(args.config).resolve()
    report.update(config=str(config.relative_to(REPO)) if config.is_relative_to(REPO) else portable(str(config)),
                  data=portable(str(data)))
    for schedule in args.schedules:
        name = f"{schedule}-seed{args.seed}" if args.seed else schedule
        if name in report["runs"]:
            print(f"{name}: in {results} already, skipped")
            continue
        out = args.out / name
        shutil.rmtree(out, ignore_errors=True)  # an interrupted run starts again: its curve must be whole
        preset = "baseline" if schedule == "random" else schedule  # random: the config's model, never trained
        overrides = [f"data.path={data}", f"eval.path={data}", f"schedule.preset={preset}", f"run.output_dir={out}",
                     f"run.seed={args.seed}",
                     "run.log_images_every=0", "run.save_every=0", "run.progress=false"]
        overrides += [f"schedule.epochs={args.epochs}"] if args.epochs else []
        cfg = load_config(PretrainConfig, args.config, overrides + (QUICK if args.quick else []))
        if schedule == "random":
            report["runs"][name] = random_row(cfg)
        else:
            pretrain(cfg)
            report["runs"][name] = curve(out)
        report["runs"][name].update(command=command("knn_curve.py", argv), commit=commit(),
                                    device=device_name(resolve_device(cfg.run.device)))
        write_json(results, report)
        print(f"{name}: {report['runs'][name]['final']} after {report['runs'][name]['train_time_s']:.0f} s of training")
    (args.out / "results.md").write_text(table(report))
    plot(report, args.out / "knn_vs_wall.png")
    print(table(report))


if __name__ == "__main__":
    main()
