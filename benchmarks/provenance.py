"""What every benchmark report records about where and from what it was measured."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

__all__ = ["command", "commit", "device_name", "write_json"]


def commit() -> str:
    """The short commit of the working tree (``unknown`` outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu, %d threads (%s)" % (torch.get_num_threads(), platform.processor() or platform.machine())


def command(script: str, argv: list[str] | None) -> str:
    """The command line of a report: ``python benchmarks/<script>`` and its arguments (``sys.argv`` unless given)."""
    return " ".join([f"python benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])


def write_json(path: Path | None, report: dict, indent: int = 2) -> None:
    """Write ``report`` to ``path`` (its folder created); nothing when ``path`` is None."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=indent))
