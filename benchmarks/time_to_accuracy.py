"""Does the curriculum reach the baseline's accuracy in less wall time? Baseline and curricula, same recipe, seeds.

Every run is a real training run of our trainers (``finetune`` / ``pretrain_mae``) in this process, one after the
other; only the ``schedule:`` differs. Each epoch record gives validation top-1, the training wall time so far
(evaluation and checkpoint writing excluded), the cost model's computation so far in final-size epochs, the loader's
share of the step time and the images per second, so a table can be explained stage by stage.

(a) supervised training from scratch of ``--model`` (a timm name, or ``micro_vit``: a DeiT-style ViT with patch 8,
    width 96 and 4 blocks) at ``--final-size``, with five schedules: ``baseline`` (E epochs), ``efficienttrain``
    (E epochs, EfficientTrain Table 5 scaled to the final size), ``efficienttrain++`` at a budget of 2E/3 (the
    TPAMI paper's 1.5x protocol, with the stage list of the official script of the model's family:
    ``_ET_pp_main_res50.py`` for ResNets, ``_ET_pp_main_deitS.py`` for ViTs), ``efficienttrain++ replay``: the same
    with the replay buffer of the family's ``_ET_pp_wReplay_main_*.py`` (TPAMI Sec. 5, for a data pipeline slower
    than the model: ResNets and DeiT-S load 4x fewer images at the 96 px-equivalent stages and 2x fewer at 160;
    families without one skip the row) and ``baseline-short``: the baseline
    cut to the computation of ``efficienttrain`` (its cosine schedule compressed), which separates the curriculum
    from simply training less. All share the recipe's warm-up, counted in final-size epochs: the official
    scripts' ET++ warm-ups (20 first-stage epochs, or 0.2 E for DeiT-S) are sized for 200-300 epoch budgets.
(b) MAE pre-training of ``--mae-model`` (``baseline`` and ``efficienttrain``, same epochs) followed by the same
    fine-tuning from each encoder and from a random initialisation (the ``random`` row: no pre-training at all).

Time-to-accuracy of a run: the training wall time of its first epoch whose top-1 reaches the target, the mean final
top-1 of the E-epoch baseline ("never" if it does not). Writes ``OUT/results.json`` (every curve and the summary,
rewritten after every run, so an interrupted table keeps what finished; an experiment not run keeps its section from
an earlier ``results.json`` in OUT), ``OUT/results.md`` (the tables) and ``OUT/top1_vs_wall.png``::

    python benchmarks/time_to_accuracy.py --data DIR --out OUT                 # defaults sized from DIR
    python benchmarks/time_to_accuracy.py --data DIR --out OUT --model resnet50 --final-size 128 --epochs 5
    python benchmarks/time_to_accuracy.py --quick --data DIR --out /tmp/tta    # a structure check in a minute

Defaults that follow the dataset (``defaults``): E = 120,000 / training images, between 4 and 300 epochs, so a
baseline sees about 120k images; MAE pre-training 4/5 E and its fine-tuning E/2, at least 2 each.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curriculum import ScheduleConfig, ViTCost, build_schedule, cost_report  # noqa: E402
from curriculum.presets import FAMILIES, family_of  # noqa: E402
from engine.cli import main_guard  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.distributed import resolve_device  # noqa: E402
from engine.runtime import worker_nice  # noqa: E402
from finetune.config import FinetuneConfig  # noqa: E402
from finetune.train import finetune  # noqa: E402
from pretrain_mae.config import PretrainConfig  # noqa: E402
from pretrain_mae.train import pretrain  # noqa: E402

from benchmarks.provenance import command, commit, device_name, portable  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
_MICRO = {"patch_size": 8, "embed_dim": 96, "depth": 4, "num_heads": 3}
# --model / --mae-model: the finetune ``model:`` section, and for MAE the pretrain_mae ``model:`` section whose
# encoder it loads. micro_vit is the encoder of the CPU configs (configs/pretrain/tiny_imagenet20_cpu.yaml).
VIT_MODELS = {
    "micro_vit": ({"name": "vit_tiny_patch16_224", **_MICRO},
                  {"name": "mae_vit_tiny", **_MICRO, "decoder_depth": 2, "decoder_embed_dim": 128,
                   "decoder_num_heads": 4}),
    "vit_small": ({"name": "vit_small_patch16_224"}, {"name": "mae_vit_small"}),
    "vit_base": ({"name": "vit_base_patch16_224"}, {"name": "mae_vit_base"}),
}
_UNSET_MAE = dict.fromkeys(("patch_size", "embed_dim", "depth", "num_heads", "decoder_embed_dim", "decoder_depth",
                            "decoder_num_heads"))

# (a) and the fine-tuning of (b): a DeiT-style recipe for a short run from scratch, fixed before any run and never
# tuned on the validation split the tables report. Mixup / CutMix and random erasing are off for runs this short.
SUPERVISED = {
    "model": {"drop_path": 0.0, "global_pool": "avg"},
    "aug": {"randaug_layers": 2, "randaug_mstd": 0.5, "min_scale": 0.25, "mixup": 0.0, "cutmix": 0.0,
            "smoothing": 0.1, "reprob": 0.0},
    "optim": {"batch_size": 128, "blr": 2.0e-3, "layer_decay": None, "weight_decay": 0.05, "warmup_epochs": 1.0,
              "min_lr": 1.0e-5},
    "run": {"save_every": 0, "log_images_every": 0, "resume": None},
}
# (b) fine-tuning from an encoder adds layer decay (MAE's fine-tuning recipe, facebookresearch/mae FINETUNE.md: 0.65
# for ViT-B, 0.75 for ViT-L; 0.75 for the shallower encoders); the random row takes the same recipe.
FINETUNE_LAYER_DECAY = {"micro_vit": 0.75, "vit_small": 0.75, "vit_base": 0.65}
# (b) pre-training: configs/pretrain/tiny_imagenet20_cpu.yaml (lr, warm-up, mask ratio), the model from --mae-model.
PRETRAIN_CONFIG = CONFIGS / "pretrain" / "tiny_imagenet20_cpu.yaml"


def model_section(name: str) -> dict:
    """The finetune ``model:`` fields of ``--model``: a VIT_MODELS key or any timm model name."""
    if name in VIT_MODELS:
        return dict(VIT_MODELS[name][0])
    return {"name": name, **dict.fromkeys(_MICRO)}


def supervised_recipe(model: dict, batch_size: int, layer_decay: float | None = None) -> dict:
    """The finetune config tree of a run of (a) or a fine-tuning of (b), what the run trains and what its record
    says: ``SUPERVISED`` with ``model`` merged into its ``model:`` section, and the run's batch and layer decay."""
    return {**SUPERVISED, "model": {**SUPERVISED["model"], **model},
            "optim": {**SUPERVISED["optim"], "batch_size": batch_size, "layer_decay": layer_decay}}


def check_model(parser: argparse.ArgumentParser, name: str) -> None:
    """Refuse (exit 2, one line) a ``--model`` that is neither a VIT_MODELS key nor a timm model name."""
    if not timm.is_model(model_section(name)["name"]):
        parser.error(f"--model {name!r} is neither a timm model nor one of {sorted(VIT_MODELS)}")


def et_pp_family(name: str) -> str:
    """The official ET++ script for ``--model``: DeiT-S's for ViTs, else the timm name's family (ResNet, ...)."""
    timm_name = model_section(name)["name"]
    return "deit_small" if timm_name.startswith(("vit_", "deit")) else family_of(timm_name)


def defaults(train_images: int) -> dict:
    """Epochs that fit a dataset of ``train_images``: the baseline sees about 120k images (4-300 epochs)."""
    epochs = min(300, max(4, round(120_000 / max(train_images, 1))))
    return {"epochs": epochs, "pretrain_epochs": max(2, round(0.8 * epochs)), "finetune_epochs": max(2, epochs // 2)}


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


def schedules(epochs: float, model: str = "micro_vit", final_size: int = 64,
              warmup: float = SUPERVISED["optim"]["warmup_epochs"]) -> dict[str, dict]:
    """The ``schedule:`` section of every compared run of (a)."""
    section = model_section(model)
    cfg = ScheduleConfig(preset="efficienttrain", epochs=epochs, final_size=final_size)
    et = build_schedule(cfg, section.get("patch_size") or _timm_patch(section["name"]), report=None)
    if section.get("patch_size") or _timm_patch(section["name"]):
        depth, dim, patch = _vit_shape(section)
        cost = ViTCost(depth, dim, patch)
    else:  # convolutions: pixels (finetune.train.FinetuneTask.cost)
        cost = lambda size: float(size * size)  # noqa: E731
    relative = cost_report(et, cost).relative_computation
    sized = {"final_size": final_size}
    family = et_pp_family(model)
    et_pp = {"preset": "efficienttrain++", "epochs": round(2 * epochs / 3, 4), "family": family, "warmup": warmup,
             **sized}
    rows = {"baseline": {"preset": "baseline", "epochs": epochs, **sized},
            "efficienttrain": {"preset": "efficienttrain", "epochs": epochs, **sized},
            "efficienttrain++": et_pp}
    if FAMILIES[family].replay:
        rows["efficienttrain++ replay"] = {**et_pp, "replay": True}
    rows["baseline-short"] = {"preset": "baseline", "epochs": round(epochs * relative, 4), **sized}
    return rows


def _timm_patch(name: str) -> int | None:
    """The patch size of a timm ViT name (``vit_small_patch16_224`` -> 16); None for other models."""
    if "_patch" not in name:
        return None
    return int(name.split("_patch")[1].split("_")[0])


def _vit_shape(section: dict) -> tuple[int, int, int]:
    """(depth, width, patch) of a ViT model section, from its fields or timm's defaults for the name."""
    if section.get("depth"):
        return section["depth"], section["embed_dim"], section["patch_size"]
    model = timm.create_model(section["name"], pretrained=False)
    return len(model.blocks), model.embed_dim, model.patch_embed.patch_size[0]


def read_curve(run_dir: Path, metric: str | None) -> list[dict]:
    """One point per epoch record: top-1 (or the loss), wall time, computation, and the stage's size, loader share
    and images per second."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{"epoch": r["epoch"] + 1, "epochs_done": r["epochs_done"], "wall_s": r["train_time_s"],
             "computation": r["computation"], "size": r["size"], "data_wait_share": r["data_wait_share"],
             "prepare_share": r.get("prepare_share", 0.0), "images_per_s": r["images_per_s"],
             **({"top1": r[metric]} if metric else {"loss": r["loss"]})}
            for r in rows]


def _fresh(out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    return out


def run_supervised(data: Path, out: Path, schedule: dict, seed: int, args, model: dict,
                   pretrained: Path | None = None, layer_decay: float | None = None) -> list[dict]:
    tree = {**supervised_recipe({**model, "pretrained": str(pretrained) if pretrained else None}, args.batch_size,
                                layer_decay),
            "data": {"dataset": "imagefolder", "path": str(data), "num_workers": args.workers, "decode": args.decode,
                     "cache_scale": args.cache_scale},
            "schedule": schedule}
    tree["aug"] = {**tree["aug"], "randaug_on": args.randaug_on}
    tree["run"] = {**tree["run"], "seed": seed, "output_dir": str(_fresh(out)), "progress": args.progress}
    finetune(load_config(FinetuneConfig, None, _overrides(tree)))
    return read_curve(out, "top1")


def run_pretrain(data: Path, out: Path, schedule: dict, seed: int, args) -> list[dict]:
    tree = {"model": {**_UNSET_MAE, **VIT_MODELS[args.mae_model][1]},
            "data": {"path": str(data), "num_workers": args.workers}, "optim": {"batch_size": args.batch_size // 2},
            "schedule": schedule,
            "run": {"seed": seed, "output_dir": str(_fresh(out)), "progress": args.progress, "save_every": 0,
                    "log_images_every": 0, "resume": None}}
    pretrain(load_config(PretrainConfig, PRETRAIN_CONFIG, _overrides(tree) + ["eval.path=null"]))  # no kNN curve
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
    base_process = statistics.fmean(r["process_s"] for r in by_name[reference])
    rows = []
    for name, group in by_name.items():
        top1, top1_std = _mean_std([r["curve"][-1]["top1"] for r in group])
        wall, wall_std = _mean_std([r["curve"][-1]["wall_s"] for r in group])
        computation = statistics.fmean(r["curve"][-1]["computation"] for r in group)
        reached = [t for t in (time_to(r["curve"], target) for r in group) if t is not None]
        tta = statistics.fmean(reached) if reached else None
        process = statistics.fmean(r["process_s"] for r in group)
        rows.append({"schedule": name, "seeds": len(group), "top1_mean": top1, "top1_std": top1_std,
                     "wall_s_mean": wall, "wall_s_std": wall_std, "computation": computation,
                     "wall_speedup": base_wall / wall, "computation_speedup": base_computation / computation,
                     "wall_share_of_computation_speedup": base_wall / wall / (base_computation / computation),
                     "process_s_mean": process, "process_speedup": base_process / process,
                     "reached_target": f"{len(reached)}/{len(group)}", "time_to_target_s": tta,
                     "time_to_accuracy_speedup": base_wall / tta if tta else None})
    return {"target_top1": target, "rows": rows}


class Progress:
    """One line per finished run: its result, the runs done and the time spent so far."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def __call__(self, line: str) -> None:
        self.done += 1
        spent = time.perf_counter() - self.started
        print(f"[{self.done}/{self.total}, {spent / 60:.1f} min] {line}", flush=True)


def experiment_a(args, data: Path, save) -> dict:
    compared = schedules(args.epochs, args.model, args.final_size)
    runs, progress = [], Progress(args.seeds * len(compared))
    section = {"runs": runs}
    for seed in range(args.seeds):  # seed-major: a slow phase of the machine hits every schedule alike
        names = list(compared) if seed % 2 == 0 else list(compared)[::-1]  # no schedule always runs first
        for name in names:
            schedule = compared[name]
            started = time.perf_counter()
            out = args.out / "runs" / "a" / name.replace(" ", "_") / f"seed{seed}"
            curve = run_supervised(data, out, schedule, seed, args, model_section(args.model))
            runs.append({"schedule": name, "seed": seed, "config": schedule, "curve": curve,
                         "process_s": time.perf_counter() - started})
            section["summary"] = summarize(runs)
            save("a", section)
            progress(f"(a) {name} seed {seed}: top-1 {curve[-1]['top1']:.2f} in {curve[-1]['wall_s']:.0f} s")
    return section


B_ROWS = ("baseline", "efficienttrain", "random")


def experiment_b(args, data: Path, finetune_data: Path, save) -> dict:
    runs, progress = [], Progress(args.seeds * len(B_ROWS))
    section = {"runs": runs}
    sized = {"final_size": args.mae_final_size}
    for seed in range(args.seeds):
        for name in B_ROWS:
            out = args.out / "runs" / "b" / name / f"seed{seed}"
            pre, encoder = [], None
            if name != "random":
                pre = run_pretrain(data, out / "pretrain", {"preset": name, "epochs": args.pretrain_epochs, **sized},
                                   seed, args)
                encoder = out / "pretrain" / "encoder.pth"
            started = time.perf_counter()
            curve = run_supervised(finetune_data, out / "finetune",
                                   {"preset": "baseline", "epochs": args.finetune_epochs, **sized}, seed, args,
                                   VIT_MODELS[args.mae_model][0], encoder, FINETUNE_LAYER_DECAY[args.mae_model])
            runs.append({"schedule": name, "seed": seed, "pretrain_curve": pre, "curve": curve,
                         "process_s": time.perf_counter() - started,  # the fine-tuning, evaluation included
                         "pretrain_wall_s": pre[-1]["wall_s"] if pre else 0.0,
                         "pretrain_computation": pre[-1]["computation"] if pre else 0.0})
            section["summary"] = summarize_b(runs)
            save("b", section)
            progress(f"(b) {name} seed {seed}: pre-training {runs[-1]['pretrain_wall_s']:.0f} s, fine-tuned "
                     f"top-1 {curve[-1]['top1']:.2f}")
    return section


def summarize_b(runs: list[dict]) -> dict:
    """``summarize`` plus what (b) compares: the pre-training wall time and computation of each row, and its
    fine-tuned top-1 against the random initialisation's."""
    summary = summarize(runs)
    rows = {row["schedule"]: row for row in summary["rows"]}
    for name, row in rows.items():
        group = [r for r in runs if r["schedule"] == name]
        row["pretrain_wall_s_mean"], row["pretrain_wall_s_std"] = _mean_std([r["pretrain_wall_s"] for r in group])
        row["pretrain_computation"] = statistics.fmean(r["pretrain_computation"] for r in group)
    base = rows["baseline"]
    for row in rows.values():
        row["pretrain_wall_speedup"] = (base["pretrain_wall_s_mean"] / row["pretrain_wall_s_mean"]
                                        if row["pretrain_wall_s_mean"] else None)
        if "random" in rows:
            row["gain_over_random"] = row["top1_mean"] - rows["random"]["top1_mean"]
    return summary


def computation_rates(curve: list[dict]) -> list[float]:
    """Per record, the computation it trained (final-size epochs) per second of its training wall time."""
    wall = computation = 0.0
    rates = []
    for point in curve:
        rates.append((point["computation"] - computation) / max(point["wall_s"] - wall, 1e-9))
        wall, computation = point["wall_s"], point["computation"]
    return rates


def stage_rows(runs: list[dict], reference: str = "baseline") -> list[dict]:
    """Per schedule and input size, over its seeds: epochs trained at that size, mean images per second, the
    loader's and the device-side preparation's shares of the step time, and the computation it trains per second
    against ``reference``'s (1.0: the size's wall time shrinks with its computation; the measured reasons a
    wall-time ratio differs from the computation's)."""
    def rate(group: list[dict]) -> list[tuple[int, float]]:
        return [(p["size"], r) for run in group for p, r in zip(run["curve"], computation_rates(run["curve"]))]

    base = [r for _, r in rate([run for run in runs if run["schedule"] == reference])]
    base_rate = statistics.fmean(base) if base else None
    rows = []
    for name in dict.fromkeys(r["schedule"] for r in runs):
        group = [r for r in runs if r["schedule"] == name]
        points = [p for r in group for p in r["curve"]]
        rates = rate(group)
        for size in sorted({p["size"] for p in points}):
            at = [p for p in points if p["size"] == size]
            sized = statistics.fmean(r for s, r in rates if s == size)
            rows.append({"schedule": name, "size": size, "epoch_records": len(at),
                         "images_per_s": statistics.fmean(p["images_per_s"] for p in at),
                         "data_wait_share": statistics.fmean(p["data_wait_share"] for p in at),
                         "prepare_share": statistics.fmean(p.get("prepare_share", 0.0) for p in at),
                         "computation_rate_vs_reference": sized / base_rate if base_rate else None,
                         "top1_at_end": statistics.fmean(p["top1"] for p in at[-max(1, len(at) // 4):])})
    return rows


def markdown(report: dict) -> str:
    def fmt(value, spec=".1f", suffix=""):
        return "never" if value is None else format(value, spec) + suffix

    lines = [f"data: `{report['data']}`, {report['train_images']} training and {report['val_images']} validation "
             f"images", ""]
    if "a" in report:
        a, s = report["a"], report["a"].get("summary")
        lines += [f"(a) supervised from scratch: `{a['model']}` at {a['final_size']} px, {a['epochs']:g} epochs, "
                  f"{a['seeds']} seeds; {a['device']}; commit {a['commit']}; `{a['command']}`", ""]
        if s:
            lines += [f"target = the baseline's mean final top-1, {s['target_top1']:.2f}", "",
                      "| schedule | top-1 (mean ± std) | train wall s | wall speedup | computation (final-size "
                      "epochs) | computation speedup | wall / computation speedup | wall with evaluation s (speedup) "
                      "| reached target | time to target s | time-to-accuracy speedup |",
                      "|---|---|---|---|---|---|---|---|---|---|---|"]
            lines += [f"| {r['schedule']} | {r['top1_mean']:.2f} ± {r['top1_std']:.2f} | {r['wall_s_mean']:.0f} ± "
                      f"{r['wall_s_std']:.0f} | {r['wall_speedup']:.2f}x | {r['computation']:.2f} | "
                      f"{r['computation_speedup']:.2f}x | {r['wall_share_of_computation_speedup']:.2f} | "
                      f"{r['process_s_mean']:.0f} ({r['process_speedup']:.2f}x) | {r['reached_target']} | "
                      f"{fmt(r['time_to_target_s'], '.0f')} | {fmt(r['time_to_accuracy_speedup'], '.2f', 'x')} |"
                      for r in s["rows"]]
            lines += ["", "(a) per stage size: epoch records, images/s, the step time's shares waiting for the "
                      "loader and preparing the batch on the device, computation trained per second against the "
                      "baseline's, top-1 over the last quarter of the records", "",
                      "| schedule | size | records | images/s | loader wait share | device preparation share | "
                      "computation / s vs baseline | top-1 |", "|---|---|---|---|---|---|---|---|"]
            lines += [f"| {r['schedule']} | {r['size']} | {r['epoch_records']} | {r['images_per_s']:.0f} | "
                      f"{r['data_wait_share']:.3f} | {r['prepare_share']:.3f} | "
                      f"{fmt(r['computation_rate_vs_reference'], '.2f')} | {r['top1_at_end']:.2f} |"
                      for r in stage_rows(a["runs"])]
        lines.append("")
    if "b" in report:
        b, s = report["b"], report["b"].get("summary")
        lines += [f"(b) MAE pre-training of `{b['mae_model']}` at {b['final_size']} px for {b['pretrain_epochs']:g} "
                  f"epochs, then the same fine-tuning ({b['finetune_epochs']:g} epochs, baseline schedule, "
                  f"{b['finetune_images']} training images) from each encoder and from random initialisation; "
                  f"{b['seeds']} seeds; {b['device']}; commit {b['commit']}; `{b['command']}`", ""]
        if s:
            lines += ["| initialisation | pre-training wall s | pre-training wall speedup | pre-training "
                      "computation | fine-tuned top-1 (mean ± std) | gain over random |", "|---|---|---|---|---|---|"]
            for r in s["rows"]:
                pre = ("| - | - | - |" if r["schedule"] == "random" else
                       f"| {r['pretrain_wall_s_mean']:.0f} ± {r['pretrain_wall_s_std']:.0f} | "
                       f"{r['pretrain_wall_speedup']:.2f}x | {r['pretrain_computation']:.2f} |")
                lines.append(f"| {'MAE ' + r['schedule'] if r['schedule'] != 'random' else 'random'} {pre} "
                             f"{r['top1_mean']:.2f} ± {r['top1_std']:.2f} | {fmt(r.get('gain_over_random'), '+.2f')} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    """Top-1 against wall time, the mean over seeds per epoch with a ±1 std band: (a) training from scratch; (b)
    fine-tuning, its wall time counted after the row's pre-training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("a", "b") if report.get(k, {}).get("summary")]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for axis, key in zip(axes[0], panels):
        runs = report[key]["runs"]
        for name in dict.fromkeys(r["schedule"] for r in runs):
            group = [r for r in runs if r["schedule"] == name]
            points = min(len(r["curve"]) for r in group)
            x = [statistics.fmean(r["curve"][i]["wall_s"] + r.get("pretrain_wall_s", 0.0) for r in group)
                 for i in range(points)]
            y = [statistics.fmean(r["curve"][i]["top1"] for r in group) for i in range(points)]
            band = [_mean_std([r["curve"][i]["top1"] for r in group])[1] for i in range(points)]
            axis.plot(x, y, marker=".", label=name if key == "a" or name == "random" else f"MAE {name}")
            axis.fill_between(x, [a - b for a, b in zip(y, band)], [a + b for a, b in zip(y, band)], alpha=0.2)
        axis.axhline(report[key]["summary"]["target_top1"], color="gray", linestyle=":", linewidth=1)
        axis.set_xlabel("training wall time (s)" if key == "a" else "pre-training + fine-tuning wall time (s)")
        axis.set_ylabel("validation top-1 (%)")
        axis.set_title("(a) from scratch" if key == "a" else "(b) fine-tuned from MAE encoders and from random")
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _count(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*/*")) if folder.is_dir() else 0


@main_guard()
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="ImageNet-style folder with train/ and val/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="a structure check: 8 training and 5 validation "
                                                             "images a class, 2 epochs, 1 seed, batch 16")
    parser.add_argument("--experiments", default="a,b", help="a, b or a,b")
    parser.add_argument("--model", default="resnet10t",
                        help=f"(a): a timm model name or one of {sorted(VIT_MODELS)} (default resnet10t)")
    parser.add_argument("--final-size", type=int, default=64, help="(a): final input size (default 64)")
    parser.add_argument("--mae-model", default="micro_vit", choices=sorted(VIT_MODELS), help="(b): the MAE ViT")
    parser.add_argument("--mae-final-size", type=int, default=None, help="(b): final size (default --final-size)")
    parser.add_argument("--epochs", type=float, default=None, help="(a): E, the baseline's epochs (default: "
                                                                   "about 120k images, from the dataset's size)")
    parser.add_argument("--pretrain-epochs", type=float, default=None, help="(b): MAE pre-training epochs "
                                                                            "(default 4/5 E)")
    parser.add_argument("--finetune-epochs", type=float, default=None, help="(b): fine-tuning epochs (default E/2)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--images-per-class", type=int, default=0,
                        help="training images a class for (a) and (b) (default 0: all)")
    parser.add_argument("--finetune-images-per-class", type=int, default=0,
                        help="(b): training images a class for the fine-tuning (default 0: those of the pre-training)")
    parser.add_argument("--batch-size", type=int, default=128, help="supervised batch; MAE pre-training uses half")
    parser.add_argument("--workers", type=int, default=2, help="loader workers per run (default 2; on the CPU they "
                                                               "run at low priority, engine.runtime.worker_nice)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of every run (default: torch's, every core)")
    parser.add_argument("--decode", default="full", choices=["full", "reduced", "device", "box"],
                        help="data.decode of the supervised runs (default full)")
    parser.add_argument("--cache-scale", type=int, default=None, choices=[1, 2, 4, 8],
                        help="data.cache_scale of the supervised runs (with --decode reduced: the training images "
                             "decoded once at 1/N, engine.decoded_cache; default none)")
    parser.add_argument("--randaug-on", default=None, choices=["loader", "device"],
                        help="aug.randaug_on of the supervised runs (default: the trainer's, device with --decode "
                             "device or box)")
    args = parser.parse_args(argv)
    experiments = set(args.experiments.split(","))
    if not experiments or not experiments <= {"a", "b"}:
        parser.error(f"--experiments takes a, b or a,b; got {args.experiments!r}")
    if args.quick:
        args.epochs = args.pretrain_epochs = args.finetune_epochs = 2
        args.seeds, args.images_per_class, args.batch_size = 1, 8, 16
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    check_model(parser, args.model)
    for split in ("train", "val"):
        if not _count(args.data / split):
            parser.error(f"{args.data / split} holds no class folders with images (ImageNet layout: "
                         f"{split}/<class>/<image>)")
    args.mae_final_size = args.mae_final_size or args.final_size
    if args.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    args.progress = sys.stderr.isatty()
    args.out.mkdir(parents=True, exist_ok=True)
    data = subset(args.data, args.out / "subset", args.images_per_class or None, 5 if args.quick else None)
    train_images = _count(data / "train")
    for key, value in defaults(train_images).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    results = args.out / "results.json"
    report = json.loads(results.read_text()) if results.is_file() else {}
    if report.get("data") != portable(str(args.data)) or report.get("train_images") != train_images:
        report = {}  # another dataset's tables are not kept
    report.update(data=portable(str(args.data)), train_images=train_images, val_images=_count(data / "val"))
    device = resolve_device("auto")
    nice = f" at nice +{worker_nice(device)}" if worker_nice(device) else ""
    provenance = {"device": f"{device_name(device)}, {args.workers} loader worker(s){nice}", "commit": commit(),
                  "seeds": args.seeds, "threads": torch.get_num_threads(), "workers": args.workers,
                  "decode": args.decode, "cache_scale": args.cache_scale, "randaug_on": args.randaug_on,
                  "command": command("time_to_accuracy.py", argv)}
    if "a" in experiments:
        report["a"] = {**provenance, "model": args.model, "final_size": args.final_size, "epochs": args.epochs,
                       "recipe": supervised_recipe(model_section(args.model), args.batch_size),
                       "schedules": schedules(args.epochs, args.model, args.final_size)}
    if "b" in experiments:
        finetune_data = subset(data, args.out / "finetune_subset", args.finetune_images_per_class or None, None)
        encoder, mae = VIT_MODELS[args.mae_model]
        report["b"] = {**provenance, "mae_model": args.mae_model, "final_size": args.mae_final_size,
                       "pretrain_epochs": args.pretrain_epochs, "finetune_epochs": args.finetune_epochs,
                       "finetune_images": _count(finetune_data / "train"),
                       "recipe": {"pretrain_config": PRETRAIN_CONFIG.name, "pretrain_model": mae,
                                  "finetune": supervised_recipe(encoder, args.batch_size,
                                                                FINETUNE_LAYER_DECAY[args.mae_model])}}

    def save(key: str, section: dict) -> None:
        report[key].update(section)
        results.write_text(json.dumps(report, indent=1))
        (args.out / "results.md").write_text(markdown(report))
        plot(report, args.out / "top1_vs_wall.png")

    if "a" in experiments:
        experiment_a(args, data, save)
    if "b" in experiments:
        experiment_b(args, data, finetune_data, save)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
