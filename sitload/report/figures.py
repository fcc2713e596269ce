"""The page's figures, drawn once the page around them is written: one after another, or, given
more than one worker, the first here and the rest on forked processes (the figures were a quarter
of a 7-day report's time, and each is drawn on its own). Forking is for Linux and for a
process with no other thread: a fork copies the locks other threads hold, and the forked process
could wait on one for ever (a report made inside a threaded program draws its figures in turn).

The first figure is drawn before the others start, so a layout that later figures share (the day
strips': plots.DayStrips) is worked out once and the forked processes start with it. A figure
comes out the same bytes wherever it is drawn.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from sitload.progress import Progress

Draw = Callable[[], str]          # draws one figure: base64 PNG
_STOPS = {signal.SIGINT, signal.SIGTERM}
_jobs: list[Draw] = []            # the figures a forked pool draws (it inherits them)


def _draw(index: int) -> str:
    return _jobs[index]()


def _worker_start() -> None:
    """A worker leaves Ctrl-C to the command, which stops the pool (the interrupt reaches the
    whole process group; a worker of its own would print a traceback), and ends on the SIGTERM
    that stops it (the command's own handler, sitload.cli's, raises: a worker would take that
    for a failed figure and wait for the next, and the pool would wait for it for ever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


class Figures:
    """Figures asked for while the page is written; ``fill`` draws them into it."""

    def __init__(self) -> None:
        self._draws: list[Draw] = []

    def place(self, draw: Draw) -> str:
        """A mark for the page where ``draw``'s base64 PNG goes (an HTML comment: no escaped
        text can contain one)."""
        self._draws.append(draw)
        return f"<!--figure {len(self._draws) - 1}-->"

    def fill(self, page: str, workers: int = 1, progress: Progress | None = None) -> str:
        """``page`` with every mark replaced by its figure; ``progress`` gets the fraction drawn."""
        draws, done = self._draws, []
        may_fork = sys.platform == "linux" and threading.active_count() == 1
        forked = min(workers, len(draws) - 1) if may_fork else 1
        for draw in draws[:1] if forked > 1 else draws:
            done.append(draw())
            _report(progress, len(done), len(draws))
        if forked > 1:
            for png in _drawn_on_forks(draws, forked):
                done.append(png)
                _report(progress, len(done), len(draws))
        for index, png in enumerate(done):
            page = page.replace(f"<!--figure {index}-->", png, 1)
        return page


def _drawn_on_forks(draws: list[Draw], processes: int) -> Iterator[str]:
    """The figures after the first, in order, drawn on ``processes`` forked processes. Ctrl-C
    and SIGTERM wait while the pool starts: they would find workers still with the command's
    handlers, and a pool that nothing stops yet."""
    global _jobs
    _jobs = draws
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        pool = multiprocessing.get_context("fork").Pool(processes, _worker_start)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        _jobs = []
        raise
    try:
        with pool:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)    # one held arrives: the pool stops
            yield from pool.imap(_draw, range(1, len(draws)))
            pool.close()    # the workers end when the queue is empty (no signal)
            pool.join()
    finally:
        _jobs = []


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done / total)
