"""A device's frames read and decoded, and their per-second features made, on a forked process
while this one classifies the seconds before them.

Reading and decoding a week of frames and making the features of its seconds (the means and
spreads the classifier takes: analytics.seconds.SecondFeatures) take twice as long as the rest of
the analysis, and the two cannot share one interpreter (a thread would wait on the other for the
GIL). So ``FeaturesAhead`` forks a process that replays the device through its own open of the
recording, makes the features of each second (``second_features``) and sends those of each page
of frames as one message (sitload.process_messages). Only the per-second rows cross, a fiftieth
of the samples' bytes at 50 Hz, so up to ``AHEAD`` pages may wait: the process can start well
before its features are taken (`sitload report` starts it before it loads its libraries). At
the end it sends what its decoder and recording learnt on the way (counts, gaps, damage), which
are set on this process's replay, so what follows reads them as after an ordinary replay. An
error of the replay is raised here, where the features are taken. The features are the same,
bit for bit, and come in the same blocks; only who makes them changes.

Forking needs Linux, a process with no other thread (sitload.forking) and a second CPU
(``may_read_ahead``); otherwise the analysis makes them in its own process
(services.analysis.analyze_device).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
from collections.abc import Callable, Iterator

from sitload import process_messages
from sitload.analytics import AnalysisConfig
from sitload.analytics.seconds import second_features
from sitload.analytics.epochs import Columns
from sitload.errors import RecordingError
from sitload.forking import may_fork, portable, starting_workers, worker_start
from sitload.heap import keep_freed_memory
from sitload.sensor_ingest.recording import Recording
from sitload.sensor_ingest.replay import DeviceReplay

AHEAD = 64       # pages whose features are made and not yet taken, at most (about 0.2 MB each)


def may_read_ahead() -> bool:
    """Whether a second process can decode here (see the module notes)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return may_fork() and (cpus or 1) > 1 and hasattr(os, "memfd_create")


class FeaturesAhead:
    """The per-second features of one device of the recording at ``path``, made with ``config``
    on a process forked now, taken later (``take``); the process stops once they are taken, or
    at ``close``."""

    def __init__(self, path: str, device_id: int, config: AnalysisConfig):
        self.path = path
        self._ended = False
        self._sock, theirs = process_messages.pair()
        self._proc = multiprocessing.get_context("fork").Process(
            target=_decode, args=(path, device_id, config, theirs, self._sock), daemon=True)
        try:
            with starting_workers():
                self._proc.start()
        except BaseException:   # also a Ctrl-C held while it started
            self.close()
            raise
        finally:
            theirs.close()

    def take(self, replay: DeviceReplay, progress: Callable[[float], None] | None = None
             ) -> Iterator[Columns]:
        """The features, as ``second_features`` of ``replay.batches(progress=progress)`` gives
        them (``replay``: the same device, opened here); the replay's decoder ``stats`` and
        ``gaps`` and its recording's damage are set once the last are taken."""
        try:
            while True:
                what, value = self._receive()
                if what == "page":
                    found, share = value
                    yield from found
                    if progress is not None and share is not None:
                        progress(share)
                elif what == "error":
                    raise value
                else:
                    stats, gaps, damage, damaged, first_damaged = value
                    replay.decoder.stats, replay.decoder.gaps = stats, gaps
                    replay.rec.damage, replay.rec.damaged_frames = damage, damaged
                    replay.rec.first_damaged_frame = first_damaged
                    self._ended = True
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop the decoding process and wait for it; one that has sent its last message ends
        by itself, unwaited for (multiprocessing reaps it at its next start or at exit), while
        this one goes on."""
        self._sock.close()
        if self._proc.pid is not None and not self._ended:
            if self._proc.is_alive():
                self._proc.terminate()
            self._proc.join()

    def _receive(self) -> tuple:
        """The next message (a page is acknowledged: the decoding process may go on)."""
        try:
            what, value = process_messages.receive(self._sock)
        except EOFError:
            self._proc.join()
            raise RecordingError(f"{self.path}: the process decoding it ended early (exit code "
                                 f"{self._proc.exitcode})") from None
        if what == "page":
            try:
                self._sock.send(b"k")
            except OSError:     # it has ended: the next message says how
                pass
        return what, value


def _decode(path: str, device_id: int, config: AnalysisConfig, sock: socket.socket,
            other_end: socket.socket) -> None:
    """The forked process: replay the device and send the features made as each page of frames
    is read (``other_end`` is closed here: its reader's end of the socket, which this process
    would otherwise keep open, and wait on, once the reader has ended)."""
    other_end.close()
    worker_start()
    keep_freed_memory()
    sent = [0, 0]    # pages sent, and taken
    try:
        with Recording(path) as rec:
            replay = DeviceReplay.of(rec, device_id)
            page: list[Columns] = []

            def page_read(share: float) -> None:
                _send(sock, "page", page, share, sent)
                page.clear()

            batches = replay.batches(progress=page_read)
            for cols in second_features(replay.device.kind, batches, config):
                page.append(cols)
            if page:
                _send(sock, "page", page, None, sent)
            _send(sock, "end", [], (replay.decoder.stats, replay.decoder.gaps, rec.damage,
                                    rec.damaged_frames, rec.first_damaged_frame), sent)
    except (BrokenPipeError, ConnectionResetError):     # the command stopped taking them
        return
    except Exception as exc:  # noqa: BLE001 - raised where the features are taken
        with contextlib.suppress(OSError):      # unless the reader has ended
            _send(sock, "error", [], portable(exc, path), sent)
    finally:
        # every page is taken before the socket closes: a socket closed with its acks unread
        # would reset the connection, and the last message would be lost
        try:
            while sent[1] < sent[0] and sock.recv(1):
                sent[1] += 1
        except OSError:     # the reader has ended
            pass
        sock.close()


def _send(sock: socket.socket, what: str, page: list[Columns], value, sent: list[int]
          ) -> None:
    """One message: ``what``, and the page's features with ``value`` (a page) or ``value``.
    Waits while AHEAD pages are not taken."""
    while sent[0] - sent[1] >= AHEAD:
        if not sock.recv(1):
            raise BrokenPipeError
        sent[1] += 1
    process_messages.send(sock, (what, (page, value) if what == "page" else value))
    sent[0] += what == "page"
