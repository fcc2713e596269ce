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
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sitload.analytics.accumulation import ProlongedBouts, accumulation_metrics, named_counts
from sitload.analytics.coverage import measured
from sitload.analytics.records import AnalysisResult
from sitload.events import Bout
from sitload.timestamps import iso_utc
from sitload.vocab import PROLONGED_S, Posture, Side

GAP, SITTING, NONE = Posture.GAP.wire, Posture.SITTING.wire, Side.NONE.wire  # as epochs write them
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
    if len(t) == 0:
        return np.zeros(0, dtype=object)
    local = pd.to_datetime(np.asarray(t, dtype=float), unit="s", utc=True).tz_convert(tz)
    days = local.tz_localize(None).to_numpy().astype("datetime64[D]")
    uniq, inverse = np.unique(days, return_inverse=True)
    return uniq.astype(str).astype(object)[inverse]


def pooled_epochs(results: Sequence[AnalysisResult]) -> pd.DataFrame:
    """The epochs of several analyses in time order (only the columns the summaries use)."""
    wanted = ("t", "posture", "lean_side", "crossed", "si", "cop_x", "cop_y")
    frames = [r.epochs[[c for c in wanted if c in r.epochs.columns]] for r in results]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({"t": np.zeros(0), "posture": np.zeros(0, dtype=object)})
    return pd.concat(frames, ignore_index=True).sort_values("t", kind="stable",
                                                             ignore_index=True)


def daily_metrics(results: Sequence[AnalysisResult], tz: ZoneInfo,
                  prolonged_s: Sequence[float] = PROLONGED_S) -> list[DayMetrics]:
    """One DayMetrics per local date that has data, in date order, for analyses of one sensor;
    ``prolonged_s``: the prolonged-sitting thresholds (``AnalysisConfig.prolonged_s``)."""
    sensor = _sensor(results)
    epochs = pooled_epochs(results)
    bouts = sorted((b for r in results for b in r.bouts), key=lambda b: b.start)
    epoch_day = local_dates(epochs["t"].to_numpy(), tz)
    bout_day = local_dates(np.array([b.start for b in bouts]), tz)
    days = sorted(set(epoch_day[~_is(epochs, "posture", GAP)]) | set(bout_day))
    out = []
    for day in days:
        ep = epochs[epoch_day == day]
        out.append(_summarize(day, sensor, ep, [b for b, d in zip(bouts, bout_day) if d == day],
                              _gap_s(_is(ep, "posture", GAP)), prolonged_s))
    return out


def period_metrics(results: Sequence[AnalysisResult], days: Sequence[DayMetrics],
                   prolonged_s: Sequence[float] = PROLONGED_S) -> DayMetrics:
    """The whole period's metrics (date 'all'); for one analysis made with the same
    ``prolonged_s`` they equal its to_json().

    ``gap_s`` is the sum of the ``days``' (so the nights between wear days do not count).
    """
    bouts = sorted((b for r in results for b in r.bouts), key=lambda b: b.start)
    return _summarize("all", _sensor(results), pooled_epochs(results), bouts,
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
    epochs = pooled_epochs(results)
    t = epochs["t"].to_numpy()
    minute = np.floor(t / 60.0).astype(np.int64)
    keys, inv = np.unique(minute, return_inverse=True)
    sitting = _is(epochs, "posture", SITTING)

    def per_minute(mask) -> np.ndarray:
        return np.bincount(inv, weights=np.asarray(mask, dtype=float), minlength=keys.size)

    out = {"t": keys * 60.0}
    counts = np.stack([per_minute(_is(epochs, "posture", name)) for name in Posture.wire_names()],
                      axis=1)
    for i, name in enumerate(Posture.wire_names()):
        out[f"{name}_s"] = counts[:, i]
    for side in ("left", "right"):
        out[f"lean_{side}_s"] = per_minute(sitting & _is(epochs, "lean_side", side))
    out["crossed_s"] = per_minute(sitting & ~_is(epochs, "crossed", NONE)) if crossed \
        else np.full(keys.size, np.nan)
    out["bout_s"] = per_minute(_in_bouts(t, [b for r in results for b in r.bouts]))
    worn = counts[:, 1:]                         # Posture.GAP is the first
    out["posture"] = np.where(worn.sum(axis=1) > 0,
                              np.asarray(Posture.wire_names()[1:], dtype=object)[worn.argmax(axis=1)], GAP)
    if "si" in epochs.columns:
        n_sit = per_minute(sitting)
        for col in ("si", "cop_x"):
            values = np.where(sitting, np.nan_to_num(epochs[col].to_numpy(dtype=float)), 0.0)
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
    epochs = pooled_epochs(results)
    if "cop_x" not in epochs.columns:
        return None
    sit = epochs[(epochs["posture"] == SITTING) & epochs["cop_x"].notna()]
    if sit.empty:
        return None
    x, y = sit["cop_x"].to_numpy(), sit["cop_y"].to_numpy()
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


def _gap_s(gap: np.ndarray) -> float:
    """Gap seconds (``gap``: whether each second is one) between the first and the last second
    with data."""
    worn = np.flatnonzero(~gap)
    return float(np.sum(gap[worn[0]:worn[-1] + 1])) if worn.size else 0.0


def _summarize(date: str, sensor: str, epochs: pd.DataFrame, bouts: list[Bout],
               gap_s: float, prolonged_s: Sequence[float]) -> DayMetrics:
    sitting = _is(epochs, "posture", SITTING)
    m = accumulation_metrics([b.duration_s for b in bouts], prolonged_s=prolonged_s)
    breaks = sum(b.ended_by == "break" for b in bouts)
    sees = measured(sensor)
    mat = "seat_load" in sees

    def lean(side: str) -> float:
        return float(np.sum(sitting & _is(epochs, "lean_side", side)))

    si = epochs["si"].to_numpy(dtype=float)[sitting] if "si" in epochs.columns else np.zeros(0)
    si = si[np.isfinite(si)]
    return DayMetrics(
        date=date, sensor=sensor, wear_s=float(np.sum(~_is(epochs, "posture", GAP))), gap_s=gap_s,
        sitting_s=float(sitting.sum()), bouts=m.n_bouts, bout_s=m.total_s,
        prolonged=m.prolonged, breaks=breaks,
        breaks_per_sitting_hour=breaks / (m.total_s / 3600.0) if m.total_s > 0 else None,
        w50_s=m.w50_s, alpha=m.alpha, gini=m.gini,
        lean_left_s=lean("left"), lean_right_s=lean("right"),
        crossed_s=float(np.sum(sitting & ~_is(epochs, "crossed", NONE)))
        if "crossed" in sees else None,
        left_dose_ns=float(sum(b.left_dose_ns for b in bouts)) if mat else None,
        right_dose_ns=float(sum(b.right_dose_ns for b in bouts)) if mat else None,
        si_mean=float(si.mean()) if si.size else None)


def _is(epochs: pd.DataFrame, column: str, label: str) -> np.ndarray:
    """Whether each second's ``column`` is ``label`` (a column the sensor lacks: all 'none');
    compared where the text is stored (Arrow), not as Python strings."""
    if column not in epochs.columns:
        return np.full(len(epochs), label == NONE)
    return (epochs[column] == label).to_numpy(dtype=bool)


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
