"""The analysis's first stage, samples to the features of each second (``SecondFeatures``,
``second_features``): a module of its own, so that a process that runs only this stage
(services.read_ahead) loads nothing of the rest of the analysis (analytics.engine)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from sitload.analytics.config import AnalysisConfig
from sitload.analytics.epochs import Columns, imu_epochs, mat_epochs
from sitload.samples import SampleBatch
from sitload.vocab import SensorKind

BATCH_BLOCK_VALUES = 1 << 16      # samples (or mat cells) per vectorised block (bounds memory)


class SecondFeatures:
    """The pipeline's first stage: samples in arrival order -> the per-second features
    (analytics.epochs) of each second they complete. Keeps the samples of the still-open second
    and drops samples from before the latest second seen (counted). What it makes does not depend
    on where the stream is cut, and the rest of the pipeline needs nothing else from the samples,
    so it may run on another process (services.read_ahead)."""

    def __init__(self, kind: SensorKind, config: AnalysisConfig = AnalysisConfig()):
        self.kind = SensorKind(kind)
        self.config = config
        self._pending: list[SampleBatch] = []    # samples of the still-open second
        self._max_sec: int | None = None         # latest second seen (samples before it drop)
        self.dropped_samples = 0

    def feed(self, batches: list[SampleBatch]) -> list[Columns]:
        """The features of the seconds the next batches (joined) complete. The open second is
        joined with their first samples alone, so a large batch is analysed where it lies, not
        copied."""
        open_second = self._pending
        fresh = [(b, sec) for b, sec in map(self._in_order, batches) if len(b)]
        if not fresh:
            return []
        batch = _merge([b for b, _ in fresh])
        sec = fresh[0][1] if len(fresh) == 1 else np.concatenate([s for _, s in fresh])
        if not open_second:
            return self._advance([batch], sec)
        head = int(np.searchsorted(sec, int(np.floor(open_second[0].t[0])), side="right"))
        found = self._advance([*open_second, batch.select(slice(0, head))])
        if head < len(batch):
            found += self._advance([batch.select(slice(head, None))], sec[head:])
        return found

    def finish(self) -> list[Columns]:
        """End of data: the features of the last open second."""
        if not self._pending:
            return []
        merged = _merge(self._pending)
        self._pending = []
        return [self._features(merged, np.floor(merged.t).astype(np.int64))]

    def _advance(self, parts: list[SampleBatch], sec: np.ndarray | None = None
                 ) -> list[Columns]:
        """The features of the seconds of ``parts`` (joined; ``sec``: their samples' seconds, if
        known) before the latest one; that one stays open (a copy of it, so it never keeps a large
        batch alive)."""
        merged = _merge(parts)
        msec = np.floor(merged.t).astype(np.int64) if sec is None else sec
        cut = int(np.searchsorted(msec, self._max_sec, side="left"))
        self._pending = [merged.select(np.arange(cut, len(merged)))] if cut < len(merged) else []
        if cut == 0:
            return []
        return [self._features(merged.select(slice(0, cut)), msec[:cut])]

    def _in_order(self, batch: SampleBatch) -> tuple[SampleBatch, np.ndarray]:
        """The batch without its samples from before the latest second seen (counted dropped),
        and the seconds of those it keeps."""
        if SensorKind(batch.kind) != self.kind:
            raise ValueError(f"{batch.kind.cli_name} batch fed to a {self.kind.cli_name} engine")
        sec = np.floor(batch.t).astype(np.int64)
        if len(batch) == 0:
            return batch, sec
        prior = sec[0] if self._max_sec is None else self._max_sec
        if sec[0] >= prior and (sec[1:] >= sec[:-1]).all():   # in order, as nearly always
            self._max_sec = int(sec[-1])
            return batch, sec
        running = np.maximum.accumulate(np.concatenate(([prior], sec)))
        keep = sec >= running[:-1]
        self.dropped_samples += int(keep.size - keep.sum())
        self._max_sec = int(running[-1])
        return (batch, sec) if keep.all() else (batch.select(keep), sec[keep])

    def _features(self, batch: SampleBatch, sec: np.ndarray) -> Columns:
        cfg = self.config
        if self.kind == SensorKind.PRESSURE:
            return mat_epochs(sec, batch.pressure, cfg.mat_cell_area_cm2, cfg.cell_loaded_kpa)
        return imu_epochs(sec, batch.accel, batch.gyro)


def second_features(kind: SensorKind, batches: Iterable[SampleBatch],
                    config: AnalysisConfig = AnalysisConfig()) -> Iterator[Columns]:
    """The per-second features of a whole recording's batches (``SecondFeatures``), in the
    blocks ``analyze`` takes: batches joined up to BATCH_BLOCK_VALUES samples (or mat cells),
    which bounds memory."""
    seconds = SecondFeatures(kind, config)
    block: list[SampleBatch] = []
    size = 0
    for batch in batches:
        block.append(batch)
        size += batch.t.size if batch.pressure is None else batch.pressure.size
        if size >= BATCH_BLOCK_VALUES:
            yield from seconds.feed(block)
            block, size = [], 0
    if block:
        yield from seconds.feed(block)
    yield from seconds.finish()


def _merge(batches: list[SampleBatch]) -> SampleBatch:
    if len(batches) == 1:
        return batches[0]

    def cat(name):
        parts = [getattr(b, name) for b in batches]
        if all(p is None for p in parts):
            return None
        # a batch without gyro among batches with one: NaN rows (its seconds calibrate nothing)
        return np.concatenate([np.full((len(b), 3), np.nan) if p is None else p
                               for b, p in zip(batches, parts)])

    first = batches[0]
    return SampleBatch(first.kind, cat("t"), cat("accel"), cat("gyro"), cat("pressure"),
                       first.first_seq, first.gap_before_s,
                       sum(b.missing_frames for b in batches))
