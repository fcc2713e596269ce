"""The streaming engine and the batch analysis: one pipeline, cut into blocks differently.

samples -> per-second features (analytics.epochs) -> per-second labels (analytics.posture)
-> gap rows for seconds without samples -> bouts and events (analytics.bouts).

``Engine.feed`` processes every second that a batch completes and keeps only the samples of the
still-open second, the classifier's running sums and the bout tracker's fixed-size state (plus, when
``keep_epochs`` is set, one compact row per second for ``result()``). ``analyze`` pushes a whole
recording through the same pipeline in large vectorised blocks; both give the same labels, bouts and
metrics because every stage is exact under any cut of the stream (tests/test_analytics_engine.py).

The first stage, samples to per-second features, is analytics.seconds.SecondFeatures: the rest
needs only its columns. ``analyze`` is ``second_features`` then ``analyze_features``, which
services.read_ahead runs on two processes (the features made where the frames are decoded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from sitload.analytics.accumulation import accumulation_metrics
from sitload.analytics.bouts import BoutTracker
from sitload.analytics.config import AnalysisConfig
from sitload.analytics.coverage import CLASSIFIERS, measured
from sitload.analytics.epochs import Columns, with_gap_rows
from sitload.analytics.records import AnalysisResult, EpochColumns
from sitload.analytics.seconds import SecondFeatures, second_features
from sitload.events import EngineState, Event
from sitload.samples import SampleBatch
from sitload.vocab import Posture, SensorKind, Side


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


def analyze_features(kind: SensorKind, features: Iterable[Columns],
                     config: AnalysisConfig = AnalysisConfig()) -> AnalysisResult:
    """Batch analysis of a whole recording's per-second features (``second_features``, made
    here or on another process)."""
    engine = Engine(kind, config)
    for cols in features:
        engine.take([cols])
    engine.finish()
    return engine.result()
