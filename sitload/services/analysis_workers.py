"""The analyses of recordings' devices, run on forked processes while the command goes on.

`sitload report` starts them before it imports pandas and matplotlib, so the analysis of a week
(1.5 s) and those imports (0.6 s) run at once on two cores, and several recordings are analysed
side by side. Each process analyses its share of the devices in turn and sends back the share of
each done so far (for the progress bar) and each device's analysis (sitload.process_messages: a
week's per-second table, 26 MB, is not copied on the way). The recordings are opened here
first, so a file that is not a recording is reported before anything starts. An error of a
worker is raised where the analyses are collected.

Without a second worker, or where a process may not fork (sitload.forking), the devices are
analysed in this process when the analyses are collected: the same analyses either way.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait

from sitload import process_messages
from sitload.analytics import AnalysisConfig
from sitload.errors import RecordingError
from sitload.forking import may_fork, portable, starting_workers, worker_start
from sitload.progress import Progress, part
from sitload.sensor_ingest.recording import Recording
from sitload.services.analysis import RecordingAnalysis, analyze_device


@dataclass(frozen=True)
class _Job:
    recording: int        # index among the paths
    path: str
    device_id: int
    frames: int           # its share of the progress


class Analyses:
    """Every device of ``paths`` analysed with ``config`` on up to ``workers`` processes (each
    decoding on one more, services.read_ahead; with one worker, nothing runs beside this
    process); a context manager that stops the workers still running when it ends."""

    def __init__(self, paths: Sequence[str], config: AnalysisConfig, workers: int = 1):
        self._paths, self._config, self._ahead = [str(p) for p in paths], config, workers > 1
        self._jobs: list[_Job] = []
        for i, path in enumerate(self._paths):
            with Recording(path) as rec:
                self._jobs += [_Job(i, path, d.id, rec.frame_rows(d.id)) for d in rec.devices]
        self._workers: list[_Worker] = []
        if workers > 1 and self._jobs and may_fork():
            self._start(min(workers, len(self._jobs)))

    def _start(self, processes: int) -> None:
        try:
            with starting_workers():
                for k in range(processes):
                    self._workers.append(_Worker(list(range(k, len(self._jobs), processes)),
                                                 self._jobs, self._config))
        except BaseException:
            self.close()
            raise

    def collect(self, progress: Progress | None = None) -> list[list[RecordingAnalysis]]:
        """Each recording's device analyses, in the order of its devices; ``progress`` gets the
        share of all frames analysed."""
        total = max(1, sum(job.frames for job in self._jobs))
        starts = [sum(job.frames for job in self._jobs[:i]) / total
                  for i in range(len(self._jobs) + 1)]
        found: dict[int, RecordingAnalysis] = {}
        if self._workers:
            try:
                self._gather(found, starts, progress)
            finally:
                self.close()
        else:
            for i, job in enumerate(self._jobs):
                with Recording(job.path) as rec:
                    found[i] = analyze_device(rec, job.device_id, self._config,
                                              part(progress, starts[i], starts[i + 1]),
                                              ahead=self._ahead)
        if progress is not None:
            progress(1.0)
        return [[found[i] for i, job in enumerate(self._jobs) if job.recording == r]
                for r in range(len(self._paths))]

    def _gather(self, found: dict[int, RecordingAnalysis], starts: list[float],
                progress: Progress | None) -> None:
        shares = [0.0] * len(self._jobs)
        running = {w.sock: w for w in self._workers}
        while running:
            for sock in wait(list(running)):
                worker = running[sock]
                try:
                    what, i, value = process_messages.receive(sock)
                except EOFError:
                    worker.process.join()
                    del running[sock]
                    if worker.jobs - found.keys():
                        job = self._jobs[min(worker.jobs - found.keys())]
                        raise RecordingError(
                            f"{job.path}: the process analysing it ended early (exit code "
                            f"{worker.process.exitcode})") from None
                    continue
                if what == "error":
                    raise value
                if what == "done":
                    found[i], shares[i] = value, 1.0
                else:
                    shares[i] = value
                if progress is not None:
                    progress(sum(s * (b - a) for s, a, b in zip(shares, starts, starts[1:])))

    def close(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()
            worker.process.join()
            worker.sock.close()
        self._workers = []

    def __enter__(self) -> Analyses:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Worker:
    """One forked process and this process's end of its messages (not a daemon: it may fork the
    process that decodes for it, services.read_ahead)."""

    def __init__(self, jobs: list[int], all_jobs: list[_Job], config: AnalysisConfig):
        self.jobs = set(jobs)
        self.sock, theirs = process_messages.pair()
        self.process = multiprocessing.get_context("fork").Process(
            target=_analyse, args=([(i, all_jobs[i]) for i in jobs], config, theirs, self.sock))
        self.process.start()
        theirs.close()


def _analyse(jobs: list[tuple[int, _Job]], config: AnalysisConfig, sock: socket.socket,
             other_end: socket.socket) -> None:
    """The forked process: analyse each job and send what comes out; the first error ends it
    (``other_end``, the command's end of the messages, is closed here: it would keep them open
    once the command has ended)."""
    other_end.close()
    worker_start()
    path = jobs[0][1].path
    try:
        for i, job in jobs:
            path = job.path
            with Recording(path) as rec:
                found = analyze_device(
                    rec, job.device_id, config,
                    lambda share, i=i: process_messages.send(sock, ("progress", i, share)))
            process_messages.send(sock, ("done", i, found))
    except (BrokenPipeError, ConnectionResetError):     # the command stopped collecting
        pass
    except Exception as exc:  # noqa: BLE001 - raised where the analyses are collected
        process_messages.send(sock, ("error", -1, portable(exc, path)))
    finally:
        sock.close()
