"""What every benchmark report records about where and from what it was measured."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

__all__ = ["command", "commit", "device_name", "portable", "write_json"]


def commit(tree: Path = Path(__file__).parent) -> str:
    """The short commit of the working tree holding ``tree`` (this repository), with ``+modified`` when tracked
    files differ from it (``unknown`` outside a git checkout). ``BENCH_COMMIT`` overrides it: a copy of the tree
    whose ``.git`` is not its own (the GPU machine's) is told which commit it holds."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        head = _git(tree, "rev-parse", "--short", "HEAD")
        return head + ("+modified" if _git(tree, "status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=tree, check=True).stdout.strip()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu, %d threads (%s)" % (torch.get_num_threads(), platform.processor() or platform.machine())


def portable(text: str) -> str:
    """``text`` with the value of ``$EFFICIENTTRAIN_DATA`` (the datasets' root, when set) written as the variable, so
    a record names no path of the machine that made it."""
    root = os.environ.get("EFFICIENTTRAIN_DATA", "").rstrip("/")
    return text.replace(root, "$EFFICIENTTRAIN_DATA") if root else text


def command(script: str, argv: list[str] | None) -> str:
    """The command line of a report: ``python benchmarks/<script>`` and its arguments (``sys.argv`` unless given),
    the data root written as ``$EFFICIENTTRAIN_DATA`` (``portable``)."""
    return portable(" ".join([f"python benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)]))


def write_json(path: Path | None, report: dict, indent: int = 2) -> None:
    """Write ``report`` to ``path`` (its folder created); nothing when ``path`` is None."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=indent))
