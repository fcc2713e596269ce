"""Per-second labels -> sitting bouts, breaks and sustained-state events (one streaming tracker).

Bout rules (docs/metrics.md): a sitting run shorter than ``min_sit_s`` is a blip and never starts or
extends a bout; valid runs separated by less than ``break_s`` of anything else (upright seconds,
blips, gap seconds) belong to one bout; a bout ends at its last sitting second once ``break_s`` has
passed without a valid run. The tracker sees one second at a time and keeps a fixed-size state, so
the streaming engine and the batch analysis (which feeds it every second in one call) agree exactly.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from sitload.analytics.config import AnalysisConfig
from sitload.analytics.coverage import LABELLED
from sitload.events import (Bout, BoutEnded, BoutStarted, DataGap, Event, Leaning, LegsCrossed,
                            PostureChanged, ProlongedSitting, WeightShift)
from sitload.vocab import NOT_MEASURED, UPRIGHT, BoutEnd, Posture, Side


@dataclass
class _Agg:
    """Running sums over the sitting seconds of a (part of a) bout."""

    n: int = 0
    side: list = field(default_factory=lambda: [0, 0, 0])      # lean side counts
    crossed: list = field(default_factory=lambda: [0, 0, 0])   # crossed side counts
    lean_sum: float = 0.0
    si_sum: float = 0.0
    cop_sum: float = 0.0
    left_dose: float = 0.0
    right_dose: float = 0.0
    peak_left: float = 0.0
    peak_right: float = 0.0
    shifts: int = 0
    stand_ups: int = 0

    def add(self, other: "_Agg") -> None:
        self.n += other.n
        for i in range(3):
            self.side[i] += other.side[i]
            self.crossed[i] += other.crossed[i]
        self.lean_sum += other.lean_sum
        self.si_sum += other.si_sum
        self.cop_sum += other.cop_sum
        self.left_dose += other.left_dose
        self.right_dose += other.right_dose
        self.peak_left = max(self.peak_left, other.peak_left)
        self.peak_right = max(self.peak_right, other.peak_right)
        self.shifts += other.shifts
        self.stand_ups += other.stand_ups


class _Sustain:
    """Fires once when a non-zero label has been held for ``min_s`` consecutive seconds."""

    def __init__(self, min_s: float):
        self.min_s = min_s
        self.label = 0
        self.since = 0
        self.fired = False

    def step(self, sec: int, label: int) -> bool:
        if label != self.label:
            self.label, self.since, self.fired = label, sec, False
        if label and not self.fired and sec + 1 - self.since >= self.min_s:
            self.fired = True
            return True
        return False


class BoutTracker:
    """Streaming bout and event detection over consecutive seconds.

    ``measured`` names the metrics the sensor measures (analytics.coverage; the default: what
    per-second labels alone give); bout fields of the others are None. 'lean_deg' reads the
    lean_deg column, 'seat_load' the mat's (si, cop_x, left_n, right_n, peaks, offload).
    """

    def __init__(self, config: AnalysisConfig, measured: frozenset[str] = LABELLED):
        self.cfg = config
        self.measured = measured
        self.bouts: list[Bout] = []
        self.gaps: list[tuple[float, float]] = []
        self.breaks = 0
        self.sit_to_stand = 0
        self.sitting_s = 0
        self._posture = Posture.GAP          # last posture seen (GAP before any data)
        self._gap_start: int | None = None
        self._run_start: int | None = None   # current sitting run
        self._in_bout = False
        self._bout_start = 0
        self._last_sit_end = 0       # exclusive end of the bout's last valid sitting second
        self._interval_gap = False   # gap seconds since _last_sit_end
        self._bout = _Agg()
        self._tail = _Agg()          # sitting seconds after _last_sit_end not yet in the bout
        self._prolonged_fired = 0
        self._side = _Sustain(config.asym_sustain_s)
        self._cross = _Sustain(config.crossed_sustain_s)
        self._shift = _Sustain(config.shift_min_s)
        self.last_lean_side = 0
        self.last_crossed = 0

    # --- public -------------------------------------------------------------------------------
    def forget_before(self, t: float) -> None:
        """Drop the bouts and gaps that ended before ``t`` (the running counts stay)."""
        self.bouts = [b for b in self.bouts if b.end >= t]
        self.gaps = [g for g in self.gaps if g[1] >= t]

    @property
    def bout_start(self) -> float | None:
        return float(self._bout_start) if self._in_bout else None

    def bout_seconds(self, now_end: int) -> float:
        return float(now_end - self._bout_start) if self._in_bout else 0.0

    def feed(self, cols: dict[str, np.ndarray]) -> list[Event]:
        """Process consecutive seconds (``sec`` continues the previous call, gaps as GAP rows)."""
        events: list[Event] = []
        n = len(cols["sec"])
        if n == 0:
            return events
        sec = cols["sec"].tolist()
        posture = cols["posture"].tolist()
        side = cols["lean_side"].tolist()
        crossed = cols["crossed"].tolist()
        lean = cols["lean_deg"].tolist() if "lean_deg" in self.measured else None
        mat = "seat_load" in self.measured
        if mat:
            si, cop = cols["si"].tolist(), cols["cop_x"].tolist()
            left, right = cols["left_n"].tolist(), cols["right_n"].tolist()
            pl, pr = cols["peak_left_kpa"].tolist(), cols["peak_right_kpa"].tolist()
            offload = cols["offload"].tolist()
        posture_end = _run_ends(cols["posture"])
        label_end = None if mat else _run_ends(cols["posture"], cols["lean_side"], cols["crossed"])
        i = 0
        while i < n:
            if i and p == posture[i]:    # a second like the one before: steady runs go at once
                if p != Posture.SITTING:
                    i = self._after_same_seconds(sec, i, posture_end(i))
                elif label_end is not None and (side[i], crossed[i]) == (ls, cr):
                    i = self._bout_goes_on(sec, i, label_end(i), lean)
                if i == n:
                    break
            s, p = sec[i], posture[i]
            self._step_posture(s, p, events)
            sitting = p == Posture.SITTING
            ls = side[i] if sitting else 0
            cr = crossed[i] if sitting else 0
            self.last_lean_side, self.last_crossed = ls, cr
            if sitting:
                self.sitting_s += 1
                if self._run_start is None and not self._in_bout:
                    self._tail = _Agg()     # a new run outside a bout starts a fresh tally
                agg = self._tail
                agg.n += 1
                agg.side[ls] += 1
                agg.crossed[cr] += 1
                if lean is not None:
                    agg.lean_sum += lean[i]
                if mat:
                    agg.si_sum += si[i]
                    agg.cop_sum += cop[i]
                    agg.left_dose += left[i]
                    agg.right_dose += right[i]
                    agg.peak_left = max(agg.peak_left, pl[i])
                    agg.peak_right = max(agg.peak_right, pr[i])
            if self._side.step(s, ls):
                events.append(Leaning(s + 1.0, Side(ls), float(self._side.since),
                                      si[i] if mat else None, lean[i] if lean else None))
            if self._cross.step(s, cr):
                events.append(LegsCrossed(s + 1.0, Side(cr), float(self._cross.since)))
            if mat and self._shift.step(s, offload[i] if sitting else 0):
                self._tail.shifts += 1
                events.append(WeightShift(s + 1.0, Side(offload[i]), float(self._shift.since)))
            # after the tallies of this second; an unknown posture ends a bout as a gap does
            self._step_bout(s, sitting, p in NOT_MEASURED, events)
            i += 1
        return events

    def _after_same_seconds(self, sec: list[int], i: int, end: int) -> int:
        """The next row to step through, when rows ``i`` to ``end`` hold the posture (not
        sitting) of the row before: such a second changes nothing but can end the open bout (a
        night without data is 30,000 gap rows)."""
        if self._in_bout:    # the first second s with s + 1 - last sitting end >= break_s
            closing = i + math.ceil(self._last_sit_end + self.cfg.break_s - 1 - sec[i])
            return min(max(closing, i), end)
        return end

    def _bout_goes_on(self, sec: list[int], i: int, end: int, lean: list[float] | None) -> int:
        """The next row to step through, when rows ``i`` to ``end`` sit with the lean and crossed
        labels of the row before, which extended the open bout: each such second adds itself to
        the bout and nothing else, up to the first that fires an event (a lean or crossed legs
        held long enough, a prolonged-sitting threshold), which is stepped."""
        if not (self._in_bout and self._last_sit_end == sec[i]):
            return i
        due = [end - i]
        for sustain in (self._side, self._cross):
            if sustain.label and not sustain.fired:
                due.append(math.ceil(sustain.since + sustain.min_s - 1 - sec[i]))
        thresholds = self.cfg.prolonged_s
        if self._prolonged_fired < len(thresholds):
            due.append(math.ceil(self._bout_start + thresholds[self._prolonged_fired] - 1 - sec[i]))
        k = min(due)
        if k <= 0:
            return i
        bout, ls, cr = self._bout, self.last_lean_side, self.last_crossed
        self.sitting_s += k
        bout.n += k
        bout.side[ls] += k
        bout.crossed[cr] += k
        if lean is not None:    # in order, one second at a time, as stepping adds them
            total = bout.lean_sum
            for value in lean[i:i + k]:
                total += value
            bout.lean_sum = total
        self._last_sit_end = sec[i + k - 1] + 1
        return i + k

    def finish(self, end_sec: int | None) -> list[Event]:
        """End of data: close an open bout at its last sitting second."""
        events: list[Event] = []
        if self._gap_start is not None and end_sec is not None:
            self.gaps.append((float(self._gap_start), float(end_sec)))
            self._gap_start = None
        if self._in_bout:
            end = end_sec if end_sec is not None else self._last_sit_end
            self._close(end, BoutEnd.END_OF_DATA, events)
        return events

    # --- internals ----------------------------------------------------------------------------
    def _step_posture(self, s: int, p: int, events: list[Event]) -> None:
        if p == Posture.GAP:
            if self._gap_start is None:
                self._gap_start = s
            return
        if self._gap_start is not None:
            self.gaps.append((float(self._gap_start), float(s)))
            events.append(DataGap(float(s), float(self._gap_start), float(s)))
            self._gap_start = None
        if p != self._posture:
            if self._posture == Posture.SITTING and p in UPRIGHT and \
                    self._run_start is not None and s - self._run_start >= self.cfg.min_sit_s:
                self.sit_to_stand += 1
                self._tail.stand_ups += 1
            events.append(PostureChanged(float(s), Posture(p), Posture(self._posture)))
            self._posture = p

    def _step_bout(self, s: int, sitting: bool, gap: bool, events: list[Event]) -> None:
        cfg = self.cfg
        if sitting:
            if self._run_start is None:
                self._run_start = s
            valid = s + 1 - self._run_start >= cfg.min_sit_s
            if valid and self._in_bout and self._run_start - self._last_sit_end < cfg.break_s:
                self._bout.add(self._tail)
                self._tail = _Agg()
                self._last_sit_end = s + 1
                self._interval_gap = False
            elif valid and not self._in_bout:
                self._in_bout = True
                self._bout_start, self._last_sit_end = self._run_start, s + 1
                self._bout, self._tail = self._tail, _Agg()
                self._prolonged_fired = 0
                self._interval_gap = False
                events.append(BoutStarted(s + 1.0, float(self._bout_start)))
            if self._in_bout and self._last_sit_end == s + 1:
                self._check_prolonged(s, events)
        else:
            self._run_start = None
            if gap:
                self._interval_gap = True
        if not self._in_bout:
            return
        pending = self._run_start is not None and self._run_start - self._last_sit_end < cfg.break_s
        if not pending and s + 1 - self._last_sit_end >= cfg.break_s:
            self._close(s + 1, BoutEnd.GAP if self._interval_gap else BoutEnd.BREAK, events)

    def _check_prolonged(self, s: int, events: list[Event]) -> None:
        thresholds = self.cfg.prolonged_s
        while self._prolonged_fired < len(thresholds) and \
                s + 1 - self._bout_start >= thresholds[self._prolonged_fired]:
            minutes = thresholds[self._prolonged_fired] / 60.0
            self._prolonged_fired += 1
            events.append(ProlongedSitting(s + 1.0, float(self._bout_start), minutes))

    def _close(self, now: int, reason: BoutEnd, events: list[Event]) -> None:
        agg = self._bout
        self._in_bout = False
        bout = self._make_bout(agg, reason)
        self.bouts.append(bout)
        events.append(BoutEnded(float(now), bout))
        if reason == BoutEnd.BREAK:
            self.breaks += 1
        self._tail = _Agg()     # blips after the bout's end belong to no bout

    def _make_bout(self, agg: _Agg, reason: BoutEnd) -> Bout:
        start, end = float(self._bout_start), float(self._last_sit_end)
        n = max(agg.n, 1)
        lean_side = _dominant_side(agg.side, self.cfg.bout_side_min_s)
        crossed_s = crossed_side = fair = None
        if "crossed" in self.measured:
            crossed_s = float(agg.crossed[1] + agg.crossed[2])
            crossed_side = _dominant_side(agg.crossed, self.cfg.bout_side_min_s)
        if "fair" in self.measured:
            fair = float(agg.crossed[Side.from_wire(self.cfg.sensor_side)])
        mat = "seat_load" in self.measured
        return Bout(
            start=start, end=end, duration_s=end - start, sitting_s=float(agg.n),
            sit_to_stand=agg.stand_ups + (1 if reason == BoutEnd.BREAK else 0),
            lean_side=lean_side,
            lean_deg_mean=agg.lean_sum / n if "lean_deg" in self.measured else None,
            crossed_s=crossed_s, crossed_side=crossed_side, fair_s=fair,
            si_mean=agg.si_sum / n if mat else None,
            cop_x_mean=agg.cop_sum / n if mat else None,
            left_dose_ns=agg.left_dose if mat else None,
            right_dose_ns=agg.right_dose if mat else None,
            peak_left_kpa=agg.peak_left if mat else None,
            peak_right_kpa=agg.peak_right if mat else None,
            weight_shifts=agg.shifts if mat else None,
            ended_by=reason)


def _run_ends(*columns: np.ndarray):
    """For a row, the end (exclusive) of the run of rows equal to it in every column."""
    change = np.zeros(len(columns[0]) - 1, dtype=bool)
    for values in columns:
        change |= values[1:] != values[:-1]
    ends = [*(np.flatnonzero(change) + 1).tolist(), len(columns[0])]
    return lambda i: ends[bisect.bisect_right(ends, i)]


def _dominant_side(counts: list[int], min_s: float) -> str:
    """The side with more seconds (left wins a tie), or 'none' below ``min_s`` seconds in all."""
    if counts[1] + counts[2] < min_s:
        return Side.NONE.wire
    return Side.LEFT.wire if counts[Side.LEFT] >= counts[Side.RIGHT] else Side.RIGHT.wire
