"""What every benchmark report records about where and from what it was measured."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

__all__ = ["commit", "device_name"]


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
