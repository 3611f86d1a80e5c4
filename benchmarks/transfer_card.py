"""Transfer card: does a curriculum-pre-trained encoder transfer as well as the baseline's, and do the readouts tell
a pre-trained encoder from a random one?

Encoders: the MAE of ``--pretrain-config`` (default ``configs/pretrain/imagenette_cpu.yaml``: the micro ViT of the
CPU configs at 64 px, with its kNN curve) pre-trained on ``--data`` with ``baseline`` and with ``efficienttrain``,
and its random initialisation (``random``: the same MAE, never trained); or a user's own, ``--encoder NAME=PATH``
(an ``encoder.pth`` or any weights ``engine.weights.load_pretrained`` reads). Readouts of every encoder, each a
command of this suite run in this process or as its own process, with lengths fixed here before any run and never
tuned on the validation splits reported; the last epoch or iteration is reported, not the best:

- ``knn``: ``python -m readout.knn`` (``configs/readout/knn_cpu.yaml``): the whole training split as the bank;
- ``probe``: ``python -m readout.linprobe`` (``configs/readout/linprobe_cpu.yaml``, the cached mode);
- ``finetune``: ``python -m finetune``, the fine-tuning recipe of ``time_to_accuracy.py`` (b);
- ``linseg``: ``python -m readout.linseg`` on ``--seg`` (ADE20K layout): a linear layer on the frozen patch tokens;
- ``upernet``: ``python -m segmentation.train`` with ``configs/segmentation/upernet_vit-tiny_cpu_camvid-ade.py``;
- ``detection``: ``python -m detection.train`` with ``configs/detection/retinanet_vit-tiny_cpu_coco-mini.py`` on
  ``--det`` (COCO layout): box AP, AP50 and AR100.

kNN, the probe and linseg take the architecture the weights record; fine-tuning, UperNet and RetinaNet build the
micro ViT of the CPU configs, so they need an encoder of that architecture.

Pre-training and the cheap readouts (knn, probe, finetune) run ``--seeds`` seeds (encoder seed s read out with seed
s); the dense ones (linseg, upernet, detection) ``--dense-seeds``. ``OUT/results.json`` is rewritten after every run,
and a rerun skips the runs it holds, so an interrupted card keeps what finished. Writes ``OUT/results.md`` (the card)
and ``OUT/knn_vs_wall.png`` (the pre-trainings' kNN curves)::

    python benchmarks/transfer_card.py --data D/imagenette --seg D/camvid-ade --det D/coco-mini --out OUT
    python benchmarks/transfer_card.py ... --encoder mine=path/encoder.pth --readouts knn probe   # your encoders
    python benchmarks/transfer_card.py --quick --data D --seg S --det C --out /tmp/card           # in a minute
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.cli import main_guard  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.distributed import resolve_device  # noqa: E402
from engine.checkpoint import save_atomic  # noqa: E402
from finetune.config import FinetuneConfig  # noqa: E402
from finetune.train import finetune  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402
from pretrain_mae.model import encoder_state_dict  # noqa: E402
from pretrain_mae.train import pretrain  # noqa: E402
from readout.config import KNNConfig, LinSegConfig, ProbeConfig  # noqa: E402
from readout.knn import knn_readout  # noqa: E402
from readout.linprobe import linear_probe  # noqa: E402
from readout.linseg import linear_segmentation  # noqa: E402

from benchmarks.knn_curve import curve, initial_mae, random_row  # noqa: E402
from benchmarks.provenance import command, commit, device_name, portable, write_json  # noqa: E402
from benchmarks.time_to_accuracy import (  # noqa: E402
    FINETUNE_LAYER_DECAY, VIT_MODELS, _overrides, subset, supervised_recipe)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
SCHEDULES = ("baseline", "efficienttrain")
READOUTS = ("knn", "probe", "finetune", "linseg", "upernet", "detection")
DENSE = ("linseg", "upernet", "detection")
# Lengths, fixed before any run. Fine-tuning: the recipe of time_to_accuracy.py (b) (15 epochs on the first 100
# training images of every class, baseline schedule at the pre-training's size, layer decay 0.75), all validation
# images. UperNet: the CPU config at batch 8 for 800 iterations (its 128 px crops); RetinaNet: the CPU config at
# batch 4 for 600 iterations; each validated once, at the end.
FINETUNE = {"epochs": 15, "images_per_class": 100, "batch_size": 64}
UPERNET = {"config": "configs/segmentation/upernet_vit-tiny_cpu_camvid-ade.py", "iters": 800, "batch_size": 8,
           "metrics": {"mIoU": "mIoU", "aAcc": "aAcc"}, "options": []}
DETECTION = {"config": "configs/detection/retinanet_vit-tiny_cpu_coco-mini.py", "iters": 600, "batch_size": 4,
             "metrics": {"AP": "coco/bbox_mAP", "AP50": "coco/bbox_mAP_50", "AR100": "coco/bbox_AR@100"},
             "options": ["val_evaluator.metric_items=[mAP,mAP_50,AR@100]"]}
QUICK = {"pretrain": ["schedule.epochs=2", "optim.batch_size=16", "eval.bank_per_class=4", "eval.val_per_class=2",
                      "eval.every=1", "data.num_workers=0"],
         "finetune": {"epochs": 1, "images_per_class": 4, "batch_size": 8},
         "probe": ["epochs=2", "optim.batch_size=8", "optim.global_batch=null", "data.num_workers=0"],
         "knn": ["batch_size=8", "k=[3]", "data.num_workers=0"],
         "linseg": ["epochs=2", "batch_size=2"], "dense_iters": 2, "dense_batch": 2}


def pretrain_run(args, schedule: str, seed: int, out: Path) -> dict:
    """MAE pre-training with ``schedule`` (its kNN curve from the config's ``eval:`` section)."""
    shutil.rmtree(out, ignore_errors=True)  # an interrupted run starts again: its curve must be whole
    overrides = [f"data.path={args.data}", f"eval.path={args.data}", f"schedule.preset={schedule}",
                 f"run.output_dir={out}", f"run.seed={seed}", "run.log_images_every=0", "run.save_every=0",
                 "run.progress=false"] + (QUICK["pretrain"] if args.quick else [])
    pretrain(load_config(PretrainConfig, args.pretrain_config, overrides))
    return {**curve(out), "encoder": str(out / "encoder.pth"),
            "pretrain_command": portable(f"python -m pretrain_mae --config {_rel(args.pretrain_config)} " +
                                         " ".join(f"--set {o}" for o in overrides))}


def random_encoder(args, seed: int, out: Path) -> dict:
    """The config's MAE at its initialisation (seed ``seed``), exported as pre-training exports its encoder, with
    the kNN curve's reading of it (``knn_curve.random_row``: the level the curves must rise above)."""
    cfg = load_config(PretrainConfig, args.pretrain_config, [f"run.seed={seed}", f"data.path={args.data}",
                                                            f"eval.path={args.data}"] +
                      (QUICK["pretrain"] if args.quick else []))
    model = initial_mae(cfg)
    save_atomic({"model": encoder_state_dict(model, cfg.schedule.final_size), "arch": asdict(model.arch),
                 "img_size": cfg.schedule.final_size}, out / "encoder.pth")
    return {"train_time_s": 0.0, "computation": 0.0, "encoder": str(out / "encoder.pth"),
            "final": random_row(cfg, model)["final"]}


def _rel(path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else portable(str(path))


def _readout_overrides(args, encoder: str, seed: int, out: Path) -> list[str]:
    return [f"model.pretrained={encoder}", f"data.path={args.data}", f"run.output_dir={out}", f"run.seed={seed}"]


def run_knn(args, encoder: str, seed: int, out: Path) -> dict:
    overrides = _readout_overrides(args, encoder, seed, out) + (QUICK["knn"] if args.quick else [])
    result = knn_readout(load_config(KNNConfig, CONFIGS / "readout/knn_cpu.yaml", overrides))
    return {**result, "command": _command("readout.knn", "configs/readout/knn_cpu.yaml", overrides)}


def run_probe(args, encoder: str, seed: int, out: Path) -> dict:
    overrides = (_readout_overrides(args, encoder, seed, out) + ["run.progress=false"] +
                 (QUICK["probe"] if args.quick else []))
    record = linear_probe(load_config(ProbeConfig, CONFIGS / "readout/linprobe_cpu.yaml", overrides))
    return {"top1": record["top1"], "train_time_s": record["train_time_s"],
            "command": _command("readout.linprobe", "configs/readout/linprobe_cpu.yaml", overrides)}


def run_finetune(args, encoder: str, seed: int, out: Path) -> dict:
    length = QUICK["finetune"] if args.quick else FINETUNE
    data = subset(Path(args.data), out.parent / f"{out.name}_subset", length["images_per_class"], None)
    tree = {**supervised_recipe({**VIT_MODELS["micro_vit"][0], "pretrained": encoder}, length["batch_size"],
                                FINETUNE_LAYER_DECAY["micro_vit"]),
            "data": {"dataset": "imagefolder", "path": str(data), "num_workers": 1},
            "schedule": {"preset": "baseline", "epochs": length["epochs"], "final_size": args.size}}
    tree["run"] = {**tree["run"], "seed": seed, "output_dir": str(out), "progress": False}
    shutil.rmtree(out, ignore_errors=True)
    overrides = _overrides(tree)
    record = finetune(load_config(FinetuneConfig, None, overrides))
    return {"top1": record["top1"], "train_time_s": record["train_time_s"],
            "command": _command("finetune", None, overrides)}


def run_linseg(args, encoder: str, seed: int, out: Path) -> dict:
    overrides = ([f"model.pretrained={encoder}", f"data.path={args.seg}", f"run.output_dir={out}",
                  f"run.seed={seed}"] + (QUICK["linseg"] if args.quick else []))
    result = linear_segmentation(load_config(LinSegConfig, CONFIGS / "readout/linseg_cpu.yaml", overrides))
    return {"mIoU": result["mIoU"], "aAcc": result["aAcc"], "train_time_s": result["train_time_s"],
            "command": _command("readout.linseg", "configs/readout/linseg_cpu.yaml", overrides)}


def run_openmmlab(args, task: str, spec: dict, data_root: str, encoder: str, seed: int, out: Path) -> dict:
    """``python -m <task>.train`` of ``spec``'s config with ``encoder`` as the backbone's weights, validated once at
    the end; its metrics read from the run's ``vis_data/scalars.json``."""
    iters = QUICK["dense_iters"] if args.quick else spec["iters"]
    batch = QUICK["dense_batch"] if args.quick else spec["batch_size"]
    shutil.rmtree(out, ignore_errors=True)
    argv = [spec["config"], "--work-dir", str(out), "--data-root", data_root, "--cfg-options",
            f"model.backbone.pretrained={encoder}", f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters}",
            f"train_dataloader.batch_size={batch}", f"default_hooks.checkpoint.interval={iters}",
            f"default_hooks.logger.interval={max(1, iters // 10)}", f"randomness.seed={seed}", *spec["options"]]
    cmd = [sys.executable, "-m", f"{task}.train", *argv]
    done = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"{task}.train failed (exit {done.returncode}): " + done.stderr.strip()[-2000:])
    scalars = sorted(out.glob("*/vis_data/scalars.json"))
    records = [json.loads(line) for line in scalars[-1].read_text().splitlines()] if scalars else []
    final = next((r for r in reversed(records) if next(iter(spec["metrics"].values())) in r), None)
    if final is None:
        raise RuntimeError(f"{task}.train wrote no validation metrics under {out}")
    train_times = [r["time"] for r in records if "time" in r and "loss" in r]
    per_iter = statistics.fmean(train_times) if train_times else None
    scale = 100.0 if task == "detection" else 1.0  # mmdet reports fractions, mmseg percentages
    return {**{name: round(scale * final[key], 2) for name, key in spec["metrics"].items()},
            "iters": iters, "batch_size": batch, "time_per_iter_s": per_iter,
            "train_time_s": round(per_iter * iters, 1) if per_iter else None,
            "command": portable(f"python -m {task}.train " + " ".join(argv))}


def _portable(run: dict, out: Path) -> dict:
    """``run`` with every path under the card's folder written from ``$OUT`` (and the data root as
    ``$EFFICIENTTRAIN_DATA``), so the report names no path of the machine that made it."""
    folders = sorted({str(out.resolve()), str(out)}, key=len, reverse=True)

    def clean(value):
        if isinstance(value, str):
            for folder in folders:
                value = value.replace(folder, "$OUT")
            return portable(value)
        return value
    return {key: clean(value) for key, value in run.items()}


def _command(module: str, config: str | None, overrides: list[str]) -> str:
    return portable(" ".join([f"python -m {module}", *([f"--config {config}"] if config else []),
                              *(f"--set {o}" for o in overrides)]))


RUNNERS = {"knn": run_knn, "probe": run_probe, "finetune": run_finetune, "linseg": run_linseg,
           "upernet": lambda args, *rest: run_openmmlab(args, "segmentation", UPERNET, args.seg, *rest),
           "detection": lambda args, *rest: run_openmmlab(args, "detection", DETECTION, args.det, *rest)}
# the card's columns: (readout, metric, label)
COLUMNS = [("knn", "cls_k20", "kNN cls k20"), ("knn", "avg_k20", "kNN avg k20"), ("probe", "top1", "linear probe"),
           ("finetune", "top1", "fine-tuning"), ("linseg", "mIoU", "CamVid frozen linear mIoU"),
           ("upernet", "mIoU", "CamVid UperNet mIoU"), ("detection", "AP", "COCO-mini AP"),
           ("detection", "AP50", "AP50"), ("detection", "AR100", "AR100")]


def encoders(args) -> dict[str, str | None]:
    """Row name -> encoder path (None: pre-trained here), in the card's order."""
    rows = dict(pair.split("=", 1) for pair in args.encoder) if args.encoder else dict.fromkeys(SCHEDULES)
    return rows | ({} if args.no_random else {"random": None})


def summary(report: dict, rows: list[str]) -> dict:
    """Per row and column: mean, std and the seeds that ran; the pre-trainings' wall time and computation."""
    card = {}
    for row in rows:
        entry = {}
        pre = [r for k, r in report["runs"].items() if k.startswith(f"pretrain/{row}/")]
        if pre and row != "random":
            walls = [r["train_time_s"] for r in pre]
            entry["pretrain_wall_s"] = _stats(walls)
            entry["pretrain_computation"] = statistics.fmean(r["computation"] for r in pre)
        for readout, metric, _ in COLUMNS:
            values = [r[metric] for k, r in report["runs"].items()
                      if k.startswith(f"{readout}/{row}/") and r.get(metric) is not None]
            if values:
                entry[f"{readout}/{metric}"] = _stats(values)
        card[row] = entry
    return card


def _stats(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 3),
            "std": round(statistics.stdev(values), 3) if len(values) > 1 else None, "seeds": len(values)}


def _cell(stat: dict | None) -> str:
    if stat is None:
        return "-"
    return (f"{stat['mean']:.1f} ± {stat['std']:.1f}" if stat["std"] is not None else f"{stat['mean']:.1f} (1 seed)")


def table(report: dict) -> str:
    card, base = report["card"], report["card"].get("baseline", {}).get("pretrain_wall_s")
    lines = [f"Transfer card of `{report['pretrain_config']}` encoders; classification on {report['data']}, "
             f"segmentation on {report['seg']}, detection on {report['det']}", "",
             "| encoder | pre-training wall | wall speedup | computation | " +
             " | ".join(label for *_, label in COLUMNS) + " |", "|---" * (4 + len(COLUMNS)) + "|"]
    for row, entry in card.items():
        wall = entry.get("pretrain_wall_s")
        speedup = f"{base['mean'] / wall['mean']:.2f}x" if wall and base else "-"
        computation = f"{entry['pretrain_computation']:.2f} epochs" if "pretrain_computation" in entry else "-"
        lines.append(f"| {row} | {_cell(wall) + ' s' if wall else '-'} | {speedup} | {computation} | " +
                     " | ".join(_cell(entry.get(f"{r}/{m}")) for r, m, _ in COLUMNS) + " |")
    times = {}
    for key, run in report["runs"].items():
        readout = key.split("/")[0]
        if run.get("train_time_s") is not None and readout != "pretrain":
            times.setdefault(readout, []).append(run["train_time_s"])
    lines += ["", "Training time of each readout (mean over its runs, s): " +
              ", ".join(f"{k} {statistics.fmean(v):.0f}" for k, v in times.items())]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {k: r for k, r in report["runs"].items() if k.startswith("pretrain/") and r.get("points")}
    random = [r["final"] for k, r in report["runs"].items() if k.startswith("pretrain/random/") and "final" in r]
    if not curves:
        return
    keys = [k for k in ("cls_k20", "avg_k20") if k in next(iter(curves.values()))["points"][0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        colours = {}
        for name, run in curves.items():
            _, row, seed = name.split("/")
            colour = colours.setdefault(row, f"C{len(colours)}")
            ax.plot([p["train_time_s"] for p in run["points"]], [p[key] for p in run["points"]], "o",
                    linestyle="-" if seed == "seed0" else ":", color=colour, label=row if seed == "seed0" else None)
        if random:
            ax.axhline(statistics.fmean(r[key] for r in random), color="grey", linestyle="--",
                       label="random initialisation")
        ax.set(xlabel="pre-training wall time (s, evaluation excluded)",
               ylabel=f"kNN top-1 (%), {key}, the curve's bank")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_inputs(args) -> None:
    """One line (``main_guard``: exit 2) for an input the card cannot use, before anything runs."""
    for pair in args.encoder:
        if "=" not in pair or not Path(pair.split("=", 1)[1]).is_file():
            raise ValueError(f"--encoder {pair!r}: give NAME=PATH of an existing weights file")
    for split in ("train", "val"):
        if not (Path(args.data) / split).is_dir():
            raise FileNotFoundError(f"--data {args.data} has no {split}/ folder of classes")
    for readout, root in (("linseg", args.seg), ("upernet", args.seg), ("detection", args.det)):
        if readout in args.readouts and not (root and Path(root).is_dir()):
            raise ValueError(f"readout {readout} needs {'--det' if readout == 'detection' else '--seg'} (a folder)")


@main_guard()
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="classification root (train/ and val/ class folders)")
    parser.add_argument("--seg", help="segmentation root, ADE20K layout (images/ and annotations/ "
                                      "{training,validation}); needed by linseg and upernet")
    parser.add_argument("--det", help="detection root, COCO layout; needed by detection")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--pretrain-config", default=str(CONFIGS / "pretrain/imagenette_cpu.yaml"))
    parser.add_argument("--encoder", action="append", default=[], metavar="NAME=PATH",
                        help="read out this encoder instead of pre-training (repeatable)")
    parser.add_argument("--no-random", action="store_true", help="no random-initialisation row")
    parser.add_argument("--readouts", nargs="*", default=list(READOUTS), choices=READOUTS)
    parser.add_argument("--seeds", type=int, default=2, help="seeds of pre-training and of knn, probe, finetune")
    parser.add_argument("--dense-seeds", type=int, default=1, help="seeds of linseg, upernet and detection")
    parser.add_argument("--quick", action="store_true", help="a structure check: 2 epochs and a few iterations")
    args = parser.parse_args(argv)
    check_inputs(args)
    args.size = load_config(PretrainConfig, args.pretrain_config, []).schedule.final_size
    results = args.out / "results.json"
    report = json.loads(results.read_text()) if results.is_file() else {"runs": {}}
    report["runs"] = {key: _portable(run, args.out) for key, run in report["runs"].items()}
    report.update(pretrain_config=_rel(args.pretrain_config), data=portable(args.data),
                  seg=portable(args.seg or "-"), det=portable(args.det or "-"),
                  lengths={"finetune": FINETUNE, "upernet": UPERNET, "detection": DETECTION})
    rows = encoders(args)

    def record(key: str, result: dict) -> None:
        report["runs"][key] = _portable({**result, "card_command": command("transfer_card.py", argv),
                                         "commit": commit(), "device": device_name(resolve_device("auto"))}, args.out)
        report["card"] = summary(report, list(rows))
        write_json(results, report)
        shown = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not k.endswith("_s")}
        print(f"{key}: {shown}", flush=True)

    for seed in range(args.seeds):  # seed-major: a slow phase of the machine hits every row alike
        for row, path in rows.items():
            key = f"pretrain/{row}/seed{seed}"
            if path is None and key not in report["runs"]:
                out = args.out / "encoders" / f"{row}-seed{seed}"
                record(key, random_encoder(args, seed, out) if row == "random" else
                       pretrain_run(args, row, seed, out))
            encoder = path or report["runs"][key]["encoder"].replace("$OUT", str(args.out))
            for readout in args.readouts:
                if readout in DENSE and seed >= args.dense_seeds:
                    continue
                key = f"{readout}/{row}/seed{seed}"
                if key not in report["runs"]:
                    record(key, RUNNERS[readout](args, encoder, seed, args.out / readout / f"{row}-seed{seed}"))
    report["card"] = summary(report, list(rows))
    write_json(results, report)
    (args.out / "results.md").write_text(table(report))
    plot(report, args.out / "knn_vs_wall.png")
    print(table(report))


if __name__ == "__main__":
    main()
