"""Work handed to forked processes (the report's analyses and figures): when a process may fork,
and how a forked worker treats the signals that stop the command.

Forking is for Linux and for a process with no other thread: a fork copies the locks other threads
hold, and the forked process could wait on one for ever (a report made inside a threaded program
does its work in turn).
"""

from __future__ import annotations

import pickle
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sitload.errors import RecordingError

_STOPS = {signal.SIGINT, signal.SIGTERM}


def may_fork() -> bool:
    return sys.platform == "linux" and threading.active_count() == 1


def worker_start() -> None:
    """A worker leaves Ctrl-C to the command, which stops its workers (the interrupt reaches the
    whole process group; a worker of its own would print a traceback), and ends on the SIGTERM
    that stops it (the command's own handler, sitload.cli's, raises: a worker would take that for
    a failed job, and the command would wait for it for ever). The command holds both signals
    while it starts workers, so that none arrives before this runs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def _flush_streams() -> None:
    """Flush stdout and stderr before a fork: the forked process flushes its copies as it ends,
    and what was waiting in them would come out twice."""
    sys.stdout.flush()
    sys.stderr.flush()


@contextmanager
def starting_workers() -> Iterator[None]:
    """Fork workers inside: Ctrl-C and SIGTERM wait until the block ends (a worker takes its own
    handlers in ``worker_start``), and the streams are flushed first. A signal held meanwhile
    arrives as the block ends, so the caller stops the workers it started if that raises."""
    _flush_streams()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def portable(exc: Exception, path: str) -> Exception:
    """``exc`` to send back from a worker, or (one that pickle cannot carry whole) a
    RecordingError of the recording at ``path`` with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to carry it
        return RecordingError(f"{path}: {exc}")
