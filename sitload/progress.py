"""Progress of long jobs (simulations, replays and reports of many days) on stderr."""

from __future__ import annotations

import sys


def print_progress(fraction: float) -> None:
    """A one-line progress bar on stderr (only when it is a terminal)."""
    if sys.stderr.isatty():
        done = int(fraction * 30)
        sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] {fraction:4.0%}")
        if fraction >= 1:
            sys.stderr.write("\n")
        sys.stderr.flush()
