"""The analyses of recordings' devices, their decoding started on forked processes before the
command needs them.

`sitload report` makes them before it imports pandas and matplotlib: each device's frames are
decoded and its per-second features made on a process of its own (services.read_ahead), which
starts at once, up to ``workers`` of them at a time; the command's process classifies the
seconds as their features come, once its libraries are loaded. Reading, decoding and making the
features of a week take twice as long as the classifying and the loading, so the two cores are
both at work. The recordings are opened here first, so a file that is not a recording is
reported before anything starts. An error of a decoding process is raised where the analyses
are collected.

With one worker, or where a process may not fork (sitload.forking), the devices are analysed in
this process when the analyses are collected: the same analyses either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sitload.analytics import AnalysisConfig
from sitload.progress import Progress, part
from sitload.sensor_ingest.recording import Recording
from sitload.services.analysis import RecordingAnalysis, analyze_device
from sitload.services.read_ahead import FeaturesAhead, may_read_ahead


@dataclass(frozen=True)
class _Job:
    recording: int        # index among the paths
    path: str
    device_id: int
    frames: int           # its share of the progress


class Analyses:
    """Every device of ``paths`` analysed with ``config``, decoded on up to ``workers`` forked
    processes at a time, the first of them started now (see the module notes); a context
    manager that stops the processes still running when it ends."""

    def __init__(self, paths: Sequence[str], config: AnalysisConfig, workers: int = 1):
        self._paths, self._config = [str(p) for p in paths], config
        self._jobs: list[_Job] = []
        for i, path in enumerate(self._paths):
            with Recording(path) as rec:
                self._jobs += [_Job(i, path, d.id, rec.frame_rows(d.id)) for d in rec.devices]
        self._workers = workers if workers > 1 and may_read_ahead() else 0
        self._started: dict[int, FeaturesAhead] = {}
        self._start(self._workers)

    def _start(self, before: int) -> None:
        """Start decoding the jobs before index ``before`` not started yet."""
        try:
            for i in range(len(self._started), min(before, len(self._jobs))):
                job = self._jobs[i]
                self._started[i] = FeaturesAhead(job.path, job.device_id, self._config)
        except BaseException:
            self.close()
            raise

    def collect(self, progress: Progress | None = None) -> list[list[RecordingAnalysis]]:
        """Each recording's device analyses, in the order of its devices; ``progress`` gets the
        share of all frames analysed."""
        total = max(1, sum(job.frames for job in self._jobs))
        starts = [sum(job.frames for job in self._jobs[:i]) / total
                  for i in range(len(self._jobs) + 1)]
        found: list[RecordingAnalysis] = []
        try:
            for i, job in enumerate(self._jobs):
                if self._workers:
                    self._start(i + self._workers)
                with Recording(job.path) as rec:
                    found.append(analyze_device(rec, job.device_id, self._config,
                                                part(progress, starts[i], starts[i + 1]),
                                                ahead=self._started.get(i, False)))
        finally:
            self.close()
        if progress is not None:
            progress(1.0)
        return [[found[i] for i, job in enumerate(self._jobs) if job.recording == r]
                for r in range(len(self._paths))]

    def close(self) -> None:
        for started in self._started.values():
            started.close()

    def __enter__(self) -> Analyses:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
