"""The page's figures, drawn once the page around them is written: one after another, or, given
more than one worker, the first here and the rest on forked processes (the figures were a quarter
of a 7-day report's time, and each is drawn on its own; sitload.forking says when a process may
fork).

The first figure is drawn before the others start, so a layout that later figures share (the day
strips': plots.DayStrips) is worked out once and the forked processes start with it. A figure
comes out the same bytes wherever it is drawn.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator

from sitload.forking import may_fork, starting_workers, worker_start
from sitload.progress import Progress

Draw = Callable[[], str]          # draws one figure: base64 PNG
_jobs: list[Draw] = []            # the figures a forked pool draws (it inherits them)


def _draw(index: int) -> tuple[int, str]:
    return index, _jobs[index]()


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
        draws, done = self._draws, {}
        forked = min(workers, len(draws) - 1) if may_fork() else 1
        for index, draw in enumerate(draws[:1] if forked > 1 else draws):
            done[index] = draw()
            _report(progress, len(done), len(draws))
        if forked > 1:
            for index, png in _drawn_on_forks(draws, forked):
                done[index] = png
                _report(progress, len(done), len(draws))
        for index, png in done.items():
            page = page.replace(f"<!--figure {index}-->", png, 1)
        return page


def _drawn_on_forks(draws: list[Draw], processes: int) -> Iterator[tuple[int, str]]:
    """The figures after the first, (index, figure) as they are drawn on ``processes`` forked
    processes, which take them last placed first: the page places a section's summaries (its
    trends take as long as three day strips) after its day strips, and the longest figure taken
    last would leave one process drawing it alone. Ctrl-C and SIGTERM wait while the pool starts
    (sitload.forking.starting_workers)."""
    global _jobs
    _jobs = draws
    pool = None
    try:
        with starting_workers():
            pool = multiprocessing.get_context("fork").Pool(processes, worker_start)
        with pool:
            yield from pool.imap_unordered(_draw, range(len(draws) - 1, 0, -1))
            pool.close()    # the workers end when the queue is empty (no signal)
            pool.join()
    except BaseException:   # also a Ctrl-C held while the pool started: the pool stops
        if pool is not None:
            pool.terminate()
        raise
    finally:
        _jobs = []


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done / total)
