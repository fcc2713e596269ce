"""Progress of long jobs (simulations, replays and reports of many days) on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[float], None]


def print_progress(fraction: float) -> None:
    """A one-line progress bar on stderr (only when it is a terminal)."""
    if sys.stderr.isatty():
        done = int(fraction * 30)
        sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] {fraction:4.0%}")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()


def part(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """A progress callback for one stage that covers [lo, hi] of the whole."""
    if progress is None:
        return None
    return lambda fraction: progress(lo + (hi - lo) * fraction)
