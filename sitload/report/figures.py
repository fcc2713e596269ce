"""The page's figures, drawn once the page around them is written: one after another, or, given
more than one worker, the figures that stand alone on forked processes while this one writes the
exports and draws the figures that share what the first of them works out (the day strips:
plots.DayStrips draws their frame once and each day's data over it). sitload.forking says when
a process may fork. A figure comes out the same bytes wherever it is drawn.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sitload.forking import may_fork, starting_workers, worker_start
from sitload.progress import Progress

Draw = Callable[[], str]          # draws one figure: base64 PNG
_jobs: list[Draw] = []            # the figures a forked pool draws (it inherits them)


def _draw(index: int) -> tuple[int, str]:
    return index, _jobs[index]()


class Figures:
    """Figures asked for while the page is written; ``drawing`` draws them into it."""

    def __init__(self) -> None:
        self._draws: list[tuple[Draw, bool]] = []     # each figure, and whether it is shared

    def place(self, draw: Draw, *, shared: bool = False) -> str:
        """A mark for the page where ``draw``'s base64 PNG goes (an HTML comment: no escaped
        text can contain one). ``shared``: the figure uses what an earlier shared figure worked
        out, and is drawn in this process."""
        self._draws.append((draw, shared))
        return f"<!--figure {len(self._draws) - 1}-->"

    @contextmanager
    def drawing(self, workers: int = 1) -> Iterator[Callable[[str, Progress | None], str]]:
        """Draw the figures placed: with more than one worker, those that are not shared start
        at once on up to ``workers`` forked processes (taken in the order placed), which stop
        when the block ends. Its value, ``fill(page, progress)``, draws the rest here and gives
        ``page`` with every mark replaced by its figure; ``progress`` gets the fraction drawn."""
        alone = [i for i, (_, shared) in enumerate(self._draws) if not shared]
        forked = min(workers, len(alone)) if workers > 1 and may_fork() else 0

        def fill(page: str, progress: Progress | None = None) -> str:
            done: dict[int, str] = {}
            for index, (draw, shared) in enumerate(self._draws):
                if shared or not forked:
                    done[index] = draw()
                    _report(progress, len(done), len(self._draws))
            for k, png in drawn:
                done[alone[k]] = png
                _report(progress, len(done), len(self._draws))
            for index, png in done.items():
                page = page.replace(f"<!--figure {index}-->", png, 1)
            return page

        with _drawn_on_forks([self._draws[i][0] for i in alone] if forked else [],
                             forked) as drawn:
            yield fill


@contextmanager
def _drawn_on_forks(draws: list[Draw], processes: int) -> Iterator[Iterator[tuple[int, str]]]:
    """(index among ``draws``, figure) as ``processes`` forked processes draw them (none without
    processes); the processes stop when the block ends. Ctrl-C and SIGTERM wait while they start
    (sitload.forking.starting_workers)."""
    global _jobs
    if not processes:
        yield iter(())
        return
    _jobs, pool = draws, None
    try:
        with starting_workers():
            pool = multiprocessing.get_context("fork").Pool(processes, worker_start)
        yield pool.imap_unordered(_draw, range(len(draws)))
        pool.close()        # the workers end when the queue is empty (no signal)
    except BaseException:   # also a Ctrl-C held while the pool started: the pool stops
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.join()
        _jobs = []


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done / total)
