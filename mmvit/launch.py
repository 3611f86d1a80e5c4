"""Train / test entry points shared by ``python -m detection.train|test`` and ``python -m segmentation.train|test``.

A thin layer over mmengine's ``Runner`` (the same flow as mmdet's and mmseg's ``tools/train.py``): the config is
read with its ``mmdet::`` / ``mmseg::`` bases and ``custom_imports``, ``--cfg-options`` override it, and the launcher
(``none`` for one process, ``pytorch`` under torchrun, ``slurm``, ``mpi``) sets up torch.distributed.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from engine.cli import main_guard

from .checkpoint_compat import weights_only_checkpoints
from .dataset_checks import check_annotations, check_classes, check_labels, point_at

__all__ = ["main"]


def _parser(mode: str, task: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {task}.{mode}", description=f"{mode} a {task} model")
    parser.add_argument("config", help="config file (configs/%s/...)" % task)
    if mode == "test":
        parser.add_argument("checkpoint", help="checkpoint to evaluate")
    parser.add_argument("--work-dir", help="where logs and checkpoints go (default: work_dirs/<config name>)")
    if mode == "train":
        parser.add_argument("--resume", nargs="?", const="auto", default=None,
                            help="resume from the latest checkpoint in the work dir, or from the given one")
        parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                            help="force mixed precision (AmpOptimWrapper) on or off; default: as the config says")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={},
                        help="override config entries, e.g. train_cfg.max_iters=100")
    parser.add_argument("--data-root", help="the dataset folder: moves every dataset root and annotation path of the "
                                            "config there (--cfg-options data_root=... cannot: mmengine resolved it)")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0)
    return parser


def build_config(args: argparse.Namespace, mode: str) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        for change in point_at(cfg, args.data_root):
            print(f"--data-root: {change}")
    check_classes(cfg)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or str(Path("work_dirs") / Path(args.config).stem)
    if mode == "train":
        if args.amp is not None:
            cfg.optim_wrapper.type = "AmpOptimWrapper" if args.amp else "OptimWrapper"
            if args.amp:
                cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
            else:
                cfg.optim_wrapper.pop("loss_scale", None)
        if cfg.optim_wrapper.get("type") == "AmpOptimWrapper" and not torch.cuda.is_available():
            raise SystemExit(f"{args.config} trains with mixed precision (AmpOptimWrapper), which mmengine supports "
                             "on accelerators only; on this CPU-only host add --no-amp")
        if args.resume is not None:
            cfg.resume = True
            cfg.load_from = None if args.resume == "auto" else args.resume
    else:
        cfg.load_from = args.checkpoint
    used = ("train_dataloader", "val_dataloader") if mode == "train" else ("test_dataloader",)
    check_annotations(cfg, used)
    check_labels(cfg, splits=used)
    if args.launcher == "pytorch" and not torch.cuda.is_available():
        # mmengine's launcher pins a CUDA device per rank; on CPU-only hosts (tests, debugging) run DDP over gloo
        if not dist.is_initialized():
            dist.init_process_group("gloo")
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False)
    return cfg


@main_guard()
def main(mode: str, task: str, argv=None) -> dict | None:
    """Run ``mode`` (``train`` or ``test``); ``test`` returns the metrics (training logs them per validation)."""
    args = _parser(mode, task).parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    with weights_only_checkpoints():
        runner = Runner.from_cfg(build_config(args, mode))
        if mode == "train":
            runner.train()
            return None
        return runner.test()
