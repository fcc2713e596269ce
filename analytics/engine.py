"""The streaming engine and the batch analysis: one pipeline, cut into blocks differently.

samples -> per-second features (analytics.epochs) -> per-second labels (analytics.posture)
-> gap rows for seconds without samples -> bouts and events (analytics.bouts).

``Engine.feed`` processes every second that a batch completes and keeps only the samples of the
still-open second, the classifier's running sums and the bout tracker's fixed-size state (plus, when
``keep_epochs`` is set, one compact row per second for ``result()``). ``analyze`` pushes a whole
recording through the same pipeline in large vectorised blocks; both give the same labels, bouts and
metrics because every stage is exact under any cut of the stream (tests/test_analytics_engine.py).

The first stage, samples to per-second features, is ``SecondFeatures``: the rest needs only its
columns. ``analyze`` is ``second_features`` then ``analyze_features``, which services.read_ahead
runs on two processes (the features made where the frames are decoded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from sitload.analytics.accumulation import accumulation_metrics
from sitload.analytics.bouts import BoutTracker
from sitload.analytics.config import AnalysisConfig
from sitload.analytics.coverage import CLASSIFIERS, measured
from sitload.analytics.epochs import Columns, imu_epochs, mat_epochs, with_gap_rows
from sitload.analytics.records import AnalysisResult, EpochColumns
from sitload.events import EngineState, Event
from sitload.samples import SampleBatch
from sitload.vocab import Posture, SensorKind, Side
BATCH_BLOCK_VALUES = 1 << 16      # analyze(): samples (or mat cells) per vectorised block (bounds memory)


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


class Engine:
    """Streaming analysis of one device's SampleBatches (see module docstring)."""

    def __init__(self, kind: SensorKind, config: AnalysisConfig = AnalysisConfig(),
                 keep_epochs: bool = True, on_seconds: Callable[[Columns], None] | None = None):
        self.kind = SensorKind(kind)
        self.config = config
        self.keep_epochs = keep_epochs
        self.on_seconds = on_seconds     # gets each block of decided seconds (gap rows included)
        self.measured = measured(self.kind)      # the metrics this sensor kind measures
        self._seconds = SecondFeatures(self.kind, config)
        self._classifier = CLASSIFIERS[self.kind](config)
        self._tracker = BoutTracker(config, self.measured)
        self._next_sec: int | None = None        # first second not yet decided
        self._seen_sec: int | None = None        # latest second given to the classifier
        self._blocks: list[Columns] = []
        self._last: dict | None = None
        self._finished = False

    @property
    def dropped_samples(self) -> int:
        """Samples from before the latest second seen, left out."""
        return self._seconds.dropped_samples

    def feed(self, batch: SampleBatch) -> list[Event]:
        """Take the next batch; returns the events of the seconds it completed."""
        return self.take(self._seconds.feed([batch]))

    def take(self, features: Iterable[Columns]) -> list[Event]:
        """Take the features of the next seconds (blocks of ``SecondFeatures``, made by ``feed``
        or elsewhere, e.g. ``second_features``); returns their events."""
        if self._finished:
            raise RuntimeError("Engine fed after finish()")
        events: list[Event] = []
        for cols in features:
            self._seen_sec = int(cols["sec"][-1])
            events += self._track(self._classifier.classify(cols))
        return events

    def finish(self) -> list[Event]:
        """End of data: classify the last open second and close an open bout."""
        if self._finished:
            return []
        events = self.take(self._seconds.finish())
        held = self._classifier.flush()
        if held is not None:
            events += self._track(held)
        self._finished = True
        return events + self._tracker.finish(self._next_sec)

    @property
    def state(self) -> EngineState:
        last = self._last
        tracker = self._tracker
        crossed = Side(tracker.last_crossed) if "crossed" in self.measured else None
        if self._seen_sec is not None and (last is None or self._seen_sec > last["sec"]):
            # seconds held until the walking calibration: their posture is not yet known
            return EngineState(float(self._seen_sec), Posture.UNKNOWN, tracker.bout_start,
                               tracker.bout_seconds(self._seen_sec + 1) / 60.0, None, Side.NONE,
                               crossed and Side.NONE)
        if last is None:
            return EngineState(None, Posture.GAP, None, 0.0, None, Side.NONE, crossed)
        si = last.get("si")
        return EngineState(
            t=float(last["sec"]), posture=Posture(last["posture"]),
            bout_start=tracker.bout_start,
            bout_minutes=tracker.bout_seconds(last["sec"] + 1) / 60.0,
            asymmetry_si=None if si is None or not np.isfinite(si) else float(si),
            lean_side=Side(tracker.last_lean_side), crossed=crossed)

    def forget_before(self, t: float) -> None:
        """Drop the bouts and gaps that ended before ``t``: a long-running live engine (made with
        ``keep_epochs=False``) keeps what its state needs, not its history; ``result()`` covers
        what is left."""
        self._tracker.forget_before(t)

    def result(self) -> AnalysisResult:
        """Everything found so far (bouts still open are not included until finish())."""
        tracker = self._tracker
        return AnalysisResult(
            kind=self.kind.cli_name, per_second=self._epoch_columns(), bouts=list(tracker.bouts),
            sitting_s=float(tracker.sitting_s),
            metrics=accumulation_metrics([b.duration_s for b in tracker.bouts],
                                         prolonged_s=self.config.prolonged_s),
            gaps=list(tracker.gaps), breaks=tracker.breaks, sit_to_stand=tracker.sit_to_stand)

    # --- internals ----------------------------------------------------------------------------
    def _track(self, cols: Columns) -> list[Event]:
        """Seconds the classifier has decided (in order) -> gap rows, epochs, bouts and events."""
        if len(cols["sec"]) == 0:
            return []
        if self.keep_epochs:    # without gap rows: a night is filled in once, if asked for
            self._blocks.append(cols)
        first = int(cols["sec"][0]) if self._next_sec is None else self._next_sec
        cols = with_gap_rows(cols, first)
        self._next_sec = int(cols["sec"][-1]) + 1
        if self.on_seconds is not None:
            self.on_seconds(cols)
        self._last = {key: values[-1].item() for key, values in cols.items()}
        return self._tracker.feed(cols)

    def _epoch_columns(self) -> EpochColumns:
        if not self._blocks:
            return EpochColumns(None)
        # column by column, each block's copy let go as its column is joined: a week is held
        # about once, not twice over (the blocks' dicts are copied: an earlier result keeps its
        # own)
        blocks, self._blocks = [dict(b) for b in self._blocks], []
        cols = {key: np.concatenate([b.pop(key) for b in blocks]) for key in list(blocks[0])}
        self._blocks = [cols]
        return EpochColumns(cols)


def analyze(kind: SensorKind, batches: Iterable[SampleBatch],
            config: AnalysisConfig = AnalysisConfig()) -> AnalysisResult:
    """Batch analysis of a whole recording (vectorised over blocks of about 2^16 values)."""
    return analyze_features(kind, second_features(kind, batches, config), config)


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


def analyze_features(kind: SensorKind, features: Iterable[Columns],
                     config: AnalysisConfig = AnalysisConfig()) -> AnalysisResult:
    """Batch analysis of a whole recording's per-second features (``second_features``, made
    here or on another process)."""
    engine = Engine(kind, config)
    for cols in features:
        engine.take([cols])
    engine.finish()
    return engine.result()


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
