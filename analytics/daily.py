"""Per-day and per-minute summaries of analyses, in the patient's local time (pure: no I/O).

A day is a local calendar date in the patient's time zone. A second belongs to the day its start
falls on; a bout belongs to the day it starts on (so bouts are never split and the days' bout
counts add up to the whole period's). Seconds and bouts of several analyses of the same sensor kind
(e.g. one recording per day) are pooled. What the sensor does not measure (analytics.coverage) is
None / NaN, never 0. Definitions: docs/metrics.md, docs/report.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sitload.analytics.accumulation import ProlongedBouts, accumulation_metrics, named_counts
from sitload.analytics.coverage import measured
from sitload.analytics.epochs import Columns, concat
from sitload.analytics.records import LABELS, AnalysisResult
from sitload.events import Bout
from sitload.timestamps import iso_utc
from sitload.vocab import PROLONGED_S, Posture, Side

GAP = Posture.GAP.wire
POOLED = ("sec", "posture", "lean_side", "crossed", "si", "cop_x", "cop_y")   # what summaries use
# DayMetrics fields that only some sensors measure -> their metric (analytics.coverage)
FIELD_METRICS = {"crossed_s": "crossed", "left_dose_ns": "seat_load",
                 "right_dose_ns": "seat_load", "si_mean": "seat_load"}
BOUT_FIELDS = tuple(f.name for f in fields(Bout))


@dataclass(frozen=True)
class DayMetrics:
    """Sitting load of one local day (or, with ``date`` = 'all', of the whole period)."""

    date: str
    sensor: str
    wear_s: float                     # seconds with data
    gap_s: float                      # seconds without data between the day's first and last datum
                                      # (for 'all': the days' sum)
    sitting_s: float                  # every sitting second (as AnalysisResult.sitting_s)
    bouts: int
    bout_s: float                     # sum of bout durations
    prolonged: tuple[ProlongedBouts, ...]  # bouts of at least each prolonged_s (bouts_30, ...)
    breaks: int                       # bouts ended by an observed break
    breaks_per_sitting_hour: float | None
    w50_s: float | None
    alpha: float | None
    gini: float | None
    lean_left_s: float                # sitting seconds leaning to the left / right
    lean_right_s: float
    crossed_s: float | None           # sitting seconds with legs crossed (None: not measured)
    left_dose_ns: float | None        # mat: load dose (N s) on each buttock over the bouts
    right_dose_ns: float | None
    si_mean: float | None             # mat: mean symmetry index over sitting seconds (+ = left)

    def to_json(self) -> dict:
        """The fields by name, the prolonged counts under theirs (``bouts_30``, ``bouts_60``)."""
        return named_counts(self)

    def measures(self, name: str) -> bool:
        """Whether the sensor measures the field ``name`` (if not, the field is None)."""
        metric = FIELD_METRICS.get(name)
        return metric is None or metric in measured(self.sensor)


def local_dates(t: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """The local calendar date ('YYYY-MM-DD') of each UTC epoch time."""
    t = np.asarray(t, dtype=float)
    if t.size == 0:
        return np.zeros(0, dtype=object)
    calendar = _Calendar(tz, float(t.min()), float(t.max()))
    return calendar.names[calendar.index(t)]


class _Calendar:
    """The local dates from the one of ``first`` to the one of ``last`` (UTC epoch seconds) and
    the UTC times at which each after the first begins (its first instant: local midnight, or
    the end of a clock change that skips it)."""

    def __init__(self, tz: ZoneInfo, first: float, last: float):
        start = datetime.fromtimestamp(first, tz).date()
        dates = [start + timedelta(days=i)
                 for i in range((datetime.fromtimestamp(last, tz).date() - start).days + 1)]
        self.names = np.array([d.isoformat() for d in dates], dtype=object)
        self.begins = np.array([datetime.combine(d, time(), tz).timestamp() for d in dates[1:]])

    def index(self, t: np.ndarray) -> np.ndarray:
        """Each time's place in ``names``."""
        return np.searchsorted(self.begins, t, side="right")


def daily_metrics(results: Sequence[AnalysisResult], tz: ZoneInfo,
                  prolonged_s: Sequence[float] = PROLONGED_S) -> list[DayMetrics]:
    """One DayMetrics per local date that has data, in date order, for analyses of one sensor;
    ``prolonged_s``: the prolonged-sitting thresholds (``AnalysisConfig.prolonged_s``)."""
    sensor = _sensor(results)
    worn, spans = _pooled(results), _Spans(results)
    bouts = sorted((b for r in results for b in r.bouts), key=lambda b: b.start)
    sec, starts = worn["sec"], np.array([b.start for b in bouts], dtype=float)
    ends = np.concatenate((sec[:1], sec[-1:], starts))
    if ends.size == 0:
        return []
    calendar = _Calendar(tz, float(ends.min()), float(ends.max()))
    sec_day, bout_day = calendar.index(sec), calendar.index(starts)
    out = []
    for day in sorted(set(sec_day.tolist()) | set(bout_day.tolist())):
        a, b = np.searchsorted(sec_day, [day, day + 1])
        out.append(_summarize(calendar.names[day], sensor, {k: v[a:b] for k, v in worn.items()},
                              [bout for bout, d in zip(bouts, bout_day) if d == day],
                              float(spans.between(sec[a], sec[b - 1])) if b > a else 0.0,
                              prolonged_s))
    return out


def period_metrics(results: Sequence[AnalysisResult], days: Sequence[DayMetrics],
                   prolonged_s: Sequence[float] = PROLONGED_S) -> DayMetrics:
    """The whole period's metrics (date 'all'); for one analysis made with the same
    ``prolonged_s`` they equal its to_json().

    ``gap_s`` is the sum of the ``days``' (so the nights between wear days do not count).
    """
    bouts = sorted((b for r in results for b in r.bouts), key=lambda b: b.start)
    return _summarize("all", _sensor(results), _pooled(results), bouts,
                      float(sum(d.gap_s for d in days)), prolonged_s)


def minute_series(results: Sequence[AnalysisResult], tz: ZoneInfo) -> pd.DataFrame:
    """One row per UTC minute with data: seconds per posture, lean, crossed legs, bout time.

    Columns: ``t`` (UTC epoch of the minute), ``time_local`` (tz-aware), ``date`` (local),
    ``<posture>_s`` for every posture, ``lean_left_s``, ``lean_right_s``, ``crossed_s``,
    ``bout_s`` (seconds inside a sitting bout), ``posture`` (the most frequent non-gap posture);
    mats add ``si_mean`` and ``cop_x_mean`` over the sitting seconds. ``crossed_s`` is NaN for a
    sensor that cannot see crossed legs.
    """
    crossed = "crossed" in measured(_sensor(results))
    worn, spans = _pooled(results), _Spans(results)
    keys = spans.minutes()
    inv = np.searchsorted(keys, worn["sec"] // 60)
    sitting = worn["posture"] == Posture.SITTING

    def per_minute(mask) -> np.ndarray:
        return np.bincount(inv, weights=np.asarray(mask, dtype=float), minlength=keys.size)

    out = {"t": keys * 60.0}
    counts = np.stack([spans.per_minute(keys)] + [per_minute(worn["posture"] == code)
                                                 for code in list(Posture)[1:]], axis=1)
    for i, name in enumerate(Posture.wire_names()):
        out[f"{name}_s"] = counts[:, i]
    out["lean_left_s"] = per_minute(sitting & _is(worn, "lean_side", Side.LEFT))
    out["lean_right_s"] = per_minute(sitting & _is(worn, "lean_side", Side.RIGHT))
    out["crossed_s"] = per_minute(sitting & ~_is(worn, "crossed", Side.NONE)) if crossed \
        else np.full(keys.size, np.nan)
    out["bout_s"] = spans.in_bouts_per_minute(keys, [b for r in results for b in r.bouts])
    in_use = counts[:, 1:]                       # Posture.GAP is the first
    out["posture"] = np.where(in_use.sum(axis=1) > 0,
                              np.asarray(Posture.wire_names()[1:], dtype=object)[
                                  in_use.argmax(axis=1)], GAP)
    if "si" in worn:
        n_sit = per_minute(sitting)
        for col in ("si", "cop_x"):
            values = np.where(sitting, np.nan_to_num(worn[col].astype(float)), 0.0)
            total = np.bincount(inv, weights=values, minlength=keys.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{col}_mean"] = np.where(n_sit > 0, total / n_sit, np.nan)
    frame = pd.DataFrame(out)
    frame = frame[frame["gap_s"] < 60].reset_index(drop=True)
    local = pd.to_datetime(frame["t"], unit="s", utc=True).dt.tz_convert(tz)
    frame.insert(1, "time_local", local)
    frame.insert(2, "date", local_dates(frame["t"].to_numpy(), tz))
    return frame


def cop_histogram(results: Sequence[AnalysisResult], cell_fraction: float = 0.25
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Mat: 2-D histogram (seconds) of the centre of pressure over sitting seconds, as
    (counts[y, x], x edges, y edges) in cells (x + = towards the left, y from the front edge), in
    bins of ``cell_fraction`` cells over at least 2 cells either side of the centre line and of
    the median row; None for sensors without a centre of pressure or without sitting."""
    worn = _pooled(results)
    if "cop_x" not in worn:
        return None
    sit = (worn["posture"] == Posture.SITTING) & ~np.isnan(worn["cop_x"])
    if not sit.any():
        return None
    x, y = worn["cop_x"][sit], worn["cop_y"][sit]
    half_x = max(2.0, float(np.ceil(np.abs(x).max())))
    mid_y = float(np.round(np.median(y)))
    half_y = max(2.0, float(np.ceil(np.abs(y - mid_y).max())))
    x_edges = np.arange(-half_x, half_x + cell_fraction / 2, cell_fraction)
    y_edges = np.arange(mid_y - half_y, mid_y + half_y + cell_fraction / 2, cell_fraction)
    counts, _, _ = np.histogram2d(x, y, bins=(x_edges, y_edges))
    return counts.T, x_edges, y_edges


def bouts_table(bouts: Iterable[tuple[str, str, Bout]], tz: ZoneInfo) -> pd.DataFrame:
    """One row per (recording, sensor, bout): recording, sensor, local date of the start, ISO
    times and every Bout field (the report's and the cohort's bout exports)."""
    rows = []
    for recording, sensor, bout in bouts:
        start_local = datetime.fromtimestamp(bout.start, tz)
        rows.append({"recording": recording, "sensor": sensor,
                     "date": start_local.date().isoformat(),
                     "start_utc": iso_utc(bout.start), "end_utc": iso_utc(bout.end),
                     "start_local": start_local.isoformat(), **asdict(bout)})
    columns = ["recording", "sensor", "date", "start_utc", "end_utc", "start_local", *BOUT_FIELDS]
    return numeric_nulls(pd.DataFrame(rows, columns=columns))


def days_table(days: Iterable[DayMetrics]) -> pd.DataFrame:
    """One row per DayMetrics, the fields named as DayMetrics.to_json() names them."""
    return numeric_nulls(pd.DataFrame([d.to_json() for d in days]))


def numeric_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns with no value at all (measures the sensor lacks) as float NaN, so that CSV and
    Parquet read back alike."""
    for column in frame.columns[frame.isna().all()]:
        frame[column] = frame[column].astype(float)
    return frame


def _summarize(date: str, sensor: str, worn: Columns, bouts: list[Bout],
               gap_s: float, prolonged_s: Sequence[float]) -> DayMetrics:
    """The metrics of the seconds with data ``worn`` (``_pooled``) and the ``bouts``."""
    sitting = worn["posture"] == Posture.SITTING
    m = accumulation_metrics([b.duration_s for b in bouts], prolonged_s=prolonged_s)
    breaks = sum(b.ended_by == "break" for b in bouts)
    sees = measured(sensor)
    mat = "seat_load" in sees

    def lean(side: Side) -> float:
        return float(np.sum(sitting & _is(worn, "lean_side", side)))

    si = worn["si"].astype(float)[sitting] if "si" in worn else np.zeros(0)
    si = si[np.isfinite(si)]
    return DayMetrics(
        date=date, sensor=sensor, wear_s=float(worn["sec"].size), gap_s=gap_s,
        sitting_s=float(sitting.sum()), bouts=m.n_bouts, bout_s=m.total_s,
        prolonged=m.prolonged, breaks=breaks,
        breaks_per_sitting_hour=breaks / (m.total_s / 3600.0) if m.total_s > 0 else None,
        w50_s=m.w50_s, alpha=m.alpha, gini=m.gini,
        lean_left_s=lean(Side.LEFT), lean_right_s=lean(Side.RIGHT),
        crossed_s=float(np.sum(sitting & ~_is(worn, "crossed", Side.NONE)))
        if "crossed" in sees else None,
        left_dose_ns=float(sum(b.left_dose_ns for b in bouts)) if mat else None,
        right_dose_ns=float(sum(b.right_dose_ns for b in bouts)) if mat else None,
        si_mean=float(si.mean()) if si.size else None)


def _pooled(results: Sequence[AnalysisResult]) -> Columns:
    """The seconds with data (posture not GAP) of several analyses in time order: ``sec``, the
    labels as codes and the mat's ``si``, ``cop_x`` and ``cop_y``, where the sensor has them."""
    parts = [_worn(r) for r in results]
    if not parts:
        return {"sec": np.zeros(0, dtype=np.int64), "posture": np.zeros(0, dtype=np.int8)}
    keys = [k for k in POOLED if any(k in p for p in parts)]
    pooled = concat([{k: _column(p, k) for k in keys} for p in parts])
    sec = pooled["sec"]
    if np.any(sec[1:] < sec[:-1]):
        order = np.argsort(sec, kind="stable")
        pooled = {k: v[order] for k, v in pooled.items()}
    return pooled


def _worn(result: AnalysisResult) -> Columns:
    """One analysis's seconds with data whose posture is not GAP: the ``POOLED`` columns it has."""
    cols = result.seconds_with_data
    worn = cols["posture"] != Posture.GAP
    return {k: cols[k][worn] for k in POOLED if k in cols}


def _column(part: Columns, key: str) -> np.ndarray:
    """``part``'s column ``key``; one it lacks reads NONE (a label) or NaN."""
    if key in part:
        return part[key]
    n = part["sec"].size
    return np.zeros(n, dtype=np.int8) if key in LABELS else np.full(n, np.nan)


class _Spans:
    """Every second from each analysis's first to its last, with data or without (GAP)."""

    def __init__(self, results: Sequence[AnalysisResult]):
        self.runs = []      # (first, last, its seconds with data in order) of each analysis
        for r in results:
            if r.span is not None:
                self.runs.append((int(r.span[0]), int(r.span[1]), _worn(r)["sec"]))

    def between(self, first: int, last: int) -> int:
        """GAP seconds from ``first`` to ``last``, both included."""
        return sum(max(0, min(last, hi) - max(first, lo) + 1)
                   - int(np.searchsorted(sec, last, "right") - np.searchsorted(sec, first))
                   for lo, hi, sec in self.runs)

    def minutes(self) -> np.ndarray:
        """The UTC minutes (epoch // 60) any analysis spans, in order."""
        spans = [np.arange(lo // 60, hi // 60 + 1) for lo, hi, _ in self.runs]
        return np.unique(np.concatenate(spans)) if spans else np.zeros(0, dtype=np.int64)

    def per_minute(self, minutes: np.ndarray) -> np.ndarray:
        """GAP seconds in each of the (sorted) ``minutes``."""
        out = np.zeros(minutes.size)
        for lo, hi, sec in self.runs:
            start = minutes * 60
            spanned = np.clip(np.minimum(start + 59, hi) - np.maximum(start, lo) + 1, 0, None)
            out += spanned - np.bincount(np.searchsorted(minutes, sec // 60),
                                         minlength=minutes.size)
        return out

    def in_bouts_per_minute(self, minutes: np.ndarray, bouts: list[Bout]) -> np.ndarray:
        """Seconds inside one of the ``bouts`` in each of the (sorted) ``minutes``, with data or
        not."""
        out = np.zeros(minutes.size)
        for lo, hi, _ in self.runs:
            sec = np.arange(lo, hi + 1)
            out += np.bincount(np.searchsorted(minutes, sec // 60), minlength=minutes.size,
                               weights=_in_bouts(sec, bouts).astype(float))
        return out


def _is(worn: Columns, column: str, code: int) -> np.ndarray:
    """Whether each second's ``column`` has the label ``code`` (a column the sensor lacks: all
    NONE)."""
    if column not in worn:
        return np.full(worn["sec"].size, code == Side.NONE)
    return worn[column] == code


def _in_bouts(t: np.ndarray, bouts: list[Bout]) -> np.ndarray:
    """Whether each second lies inside a bout [start, end)."""
    if not bouts:
        return np.zeros(t.size, dtype=bool)
    starts = np.array(sorted(b.start for b in bouts))
    ends = np.array(sorted(b.end for b in bouts))
    return np.searchsorted(starts, t, side="right") > np.searchsorted(ends, t, side="right")


def _sensor(results: Sequence[AnalysisResult]) -> str:
    kinds = {r.kind for r in results}
    if len(kinds) != 1:
        raise ValueError(f"daily summaries pool analyses of one sensor kind, got {sorted(kinds)}")
    return kinds.pop()
