"""Command line: ``python -m curriculum show|plot``.

    python -m curriculum show efficienttrain --epochs 300 --final-size 224 --model mae_vit_base
    python -m curriculum show efficienttrain++ --family deit_small --epochs 200 --baseline-epochs 300 --model deit_small
    python -m curriculum plot efficienttrain++ --epochs 300 --out schedule.png
    python -m curriculum show my_schedule.yaml --model deit_small
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cost import MODELS, cost_report, get_model_cost
from .presets import FAMILIES, PRESETS, make_preset
from .schedule import Schedule


def _schedule(args: argparse.Namespace) -> Schedule:
    if Path(args.schedule).suffix in (".yaml", ".yml", ".json"):
        schedule = Schedule.load(args.schedule)
        if args.epochs is None:
            return schedule
        return schedule.with_budget(args.epochs) if schedule.progress_by == "computation" else (
            schedule.with_epochs(args.epochs))
    extra = {k: v for k, v in (("family", args.family), ("replay", args.replay or None)) if v is not None}
    epochs = 300 if args.epochs is None else args.epochs
    return make_preset(args.schedule, epochs, args.final_size, round_to=args.round_to, **extra)


def _show(args: argparse.Namespace) -> None:
    schedule = _schedule(args)
    flops = get_model_cost(args.model) if args.model else (lambda b: float(b * b))
    report = cost_report(schedule, flops, baseline_epochs=args.baseline_epochs)
    print(schedule.table(list(report.stage_cost_per_epoch) if args.model else None))
    what = f"model {args.model}" if args.model else "pixels"
    print(f"{what}: versus {report.baseline_epochs:g} epochs at B={schedule.final_size}, {report.summary()}")


def _plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schedule = _schedule(args)
    epochs = [schedule.epochs * i / 1000 for i in range(1001)]
    values = [schedule.at(e) for e in epochs]
    fig, size_axis = plt.subplots(figsize=(7, 3.5))
    size_axis.step(epochs, [v.size for v in values], where="post", color="tab:blue")
    size_axis.set_xlabel("epoch")
    size_axis.set_ylabel("input size B", color="tab:blue")
    magnitude_axis = size_axis.twinx()
    magnitude_axis.plot(epochs, [v.magnitude for v in values], color="tab:orange")
    magnitude_axis.set_ylabel("RandAugment magnitude m", color="tab:orange")
    size_axis.set_title(f"{schedule.name}, {schedule.epochs:.4g} epochs (budget {schedule.budget:.4g})")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m curriculum", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func in (("show", _show), ("plot", _plot)):
        sub = commands.add_parser(name)
        sub.add_argument("schedule", help=f"a preset ({', '.join(PRESETS)}) or a .yaml/.json schedule file")
        sub.add_argument("--epochs", type=float, default=None,
                         help="epochs; the computation budget for efficienttrain++ (default 300 for presets)")
        sub.add_argument("--final-size", type=int, default=224)
        sub.add_argument("--round-to", type=int, default=None, help="round sizes to this multiple (patch size)")
        sub.add_argument("--family", choices=sorted(FAMILIES), default=None,
                         help="efficienttrain++ stage list of the official script for this model family")
        sub.add_argument("--replay", action="store_true", help="efficienttrain++ with the family's replay buffer")
        sub.set_defaults(func=func)
    commands.choices["show"].add_argument("--model", choices=sorted(MODELS), help="report computation for it")
    commands.choices["show"].add_argument("--baseline-epochs", type=float, default=None,
                                          help="epochs of the baseline to compare with (default: the schedule's "
                                               "epochs, or its budget for efficienttrain++)")
    commands.choices["plot"].add_argument("--out", default="schedule.png")
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"error: {err}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
