"""How every command meets bad input: one line that names the problem, and exit code 2.

Missing or unreadable files and folders, values a dataset or checkpoint cannot satisfy, weights that do not fit:
``main_guard`` turns them into ``error: <message>`` on one line (a message's own lines joined with ``; ``; an error
re-raised from a loader worker reduced to the original one) and exit status 2, as config errors already are.
``EFFICIENTTRAIN_DEBUG=1`` keeps the traceback, for developers.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable

from .checkpoint import CheckpointError
from .data import CorruptImageError
from .weights import WeightsError

__all__ = ["INPUT_ERRORS", "main_guard", "one_line"]

INPUT_ERRORS = (OSError, ValueError, CorruptImageError, CheckpointError, WeightsError)


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line; for an error a loader worker raised, the worker's original message."""
    text = str(err)
    if "Original Traceback" in text:  # torch's ExceptionWrapper: the original "Type: message" is the last line
        text = text.rstrip().splitlines()[-1].split(": ", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def main_guard(errors: tuple[type[BaseException], ...] = INPUT_ERRORS) -> Callable:
    """Decorate a command's ``main``: ``errors`` become one line on stderr and exit 2 (traceback with
    ``EFFICIENTTRAIN_DEBUG=1``)."""
    def wrap(main: Callable) -> Callable:
        @functools.wraps(main)
        def guarded(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except errors as err:
                if os.environ.get("EFFICIENTTRAIN_DEBUG", "0") not in ("", "0"):
                    raise
                print(f"error: {one_line(err)} (EFFICIENTTRAIN_DEBUG=1 shows the traceback)", file=sys.stderr)
                raise SystemExit(2) from None
        return guarded
    return wrap
