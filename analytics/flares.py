"""Flare-up linkage for one person (N-of-1): which exposures come before the pain reports that are
flares, and the personal sitting tolerance.

Pure: diary entries and a per-second timeline in, a ``FlareAnalysis`` out. The method, the flare
definition and every default are in docs/flares.md:

1. A report is a *flare* when its pain is at least the baseline (median of the reports unless set)
   plus ``flare_rise``, or at least ``flare_pain``. A flare report within ``episode_min`` of the
   previous flare report belongs to the same flare and is left out.
2. Exposures are measured over the window before each report (``exposure_names``); a report
   whose window holds less than ``min_coverage`` of measured time is left out. An exposure the
   sensor cannot see (crossed legs from a hip IMU; analytics.coverage) is NaN and not tested.
3. Each exposure is compared between flare and other reports by a one-sided permutation test
   (flare labels shuffled within days, then the follow-up rule applied) of the standardised mean
   difference, in the direction that would harm (more sitting, fewer breaks); p values are
   family-wise adjusted over the exposures by the step-down max-T method (Westfall & Young).
   Effect sizes: the mean difference with a percentile bootstrap CI (analytics.intervals), and
   Cohen's d.
4. The sitting tolerance is the median unbroken sitting before a flare report (``sitting_before``:
   from the start of the last bout to the report), with the distribution-free order-statistic CI
   of a median (``intervals.median_ci``), given only when a sitting exposure is linked to flares.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from sitload.analytics import coverage
from sitload.analytics.flare_config import PAIN_MAX, FlareConfig
from sitload.analytics.intervals import median_ci, percentile_bootstrap
from sitload.analytics.records import AnalysisResult
from sitload.timestamps import PLAUSIBLE_RANGE, plausible
from sitload.vocab import NOT_MEASURED, PainLocation, PainSide, Posture, Side, wire_names
from sitload.errors import ConfigError

if TYPE_CHECKING:    # pandas is imported where a table is made: analyze needs none
    import pandas as pd

JSON_SCHEMA = "sitload.flares/1"
NOTE_MAX = 500


@dataclass(frozen=True)
class DiaryEntry:
    """One symptom report: pain 0-10 at UTC time ``t``; raises ConfigError when malformed."""

    t: float
    pain: int
    location: str | None = None
    side: str | None = None
    tingling: bool | None = None
    note: str | None = None
    source: str = "cli"

    def __post_init__(self) -> None:
        if isinstance(self.pain, bool) or not isinstance(self.pain, (int, np.integer)) \
                or not 0 <= self.pain <= PAIN_MAX:
            raise ConfigError(f"pain must be a whole number from 0 to {PAIN_MAX}, "
                              f"not {self.pain!r}")
        if not isinstance(self.t, (int, float)) or not plausible(self.t):
            raise ConfigError(f"time must be a UTC epoch {PLAUSIBLE_RANGE}, not {self.t!r}")
        if self.side is not None and self.side not in wire_names(PainSide):
            raise ConfigError(f"side must be one of {', '.join(PainSide)}, not {self.side!r}")
        if self.location is not None and self.location not in wire_names(PainLocation):
            raise ConfigError(f"location must be one of {', '.join(PainLocation)}, "
                              f"not {self.location!r}")
        if self.note is not None and len(self.note) > NOTE_MAX:
            raise ConfigError(f"note is longer than {NOTE_MAX} characters")


def diary_entries(rows: Iterable) -> list[DiaryEntry]:
    """Entries of a recording's diary rows (``Recording.diary_rows()``, or a diary table's
    ``itertuples(index=False)``)."""
    def opt(value):
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    return [DiaryEntry(float(r.t), int(r.pain), opt(r.location), opt(r.side),
                       None if opt(r.tingling) is None else bool(r.tingling), opt(r.note),
                       r.source)
            for r in rows]


@dataclass(frozen=True)
class Timeline:
    """Per-second exposure states, sorted by ``t`` (UTC second starts).

    ``measured``: a second with data; ``left`` / ``right``: sitting with that buttock loaded;
    ``crossed``: sitting with legs crossed, None when the sensor cannot see crossed legs;
    ``asymmetry``: signed lateral lean while sitting (+ = left; degrees for an IMU, gluteal
    symmetry index in % for the mat; 0 when unknown); ``bouts``: (n, 2) unbroken-sitting
    [start, end) times, sorted; ``bout_breaks``: whether each bout ended with a break.
    """

    t: np.ndarray
    measured: np.ndarray
    sitting: np.ndarray
    left: np.ndarray
    right: np.ndarray
    crossed: np.ndarray | None
    asymmetry: np.ndarray
    asymmetry_unit: str
    bouts: np.ndarray
    bout_breaks: np.ndarray

    @classmethod
    def from_analysis(cls, result: AnalysisResult) -> "Timeline":
        """From an analysis: its seconds with data and its bouts (a second without data adds
        nothing to any exposure, nor to the coverage)."""
        cols = result.seconds_with_data
        posture = cols["posture"]
        asym, unit = np.zeros(len(posture)), "deg"
        if "lean_deg" in cols and np.isfinite(cols["lean_deg"]).any():
            asym = cols["lean_deg"].astype(float)
        elif "si_gluteal" in cols:
            asym, unit = cols["si_gluteal"].astype(float), "%"
        bouts = np.array([[b.start, b.end] for b in result.bouts]).reshape(-1, 2)

        def sides(column: str) -> np.ndarray:
            return cols[column] if column in cols else np.zeros(len(posture), dtype=np.int8)

        lean = sides("lean_side")
        crossed = sides("crossed") != Side.NONE \
            if "crossed" in coverage.measured(result.kind) else None
        return cls._make(cols["sec"].astype(float), ~np.isin(posture, list(NOT_MEASURED)),
                         posture == Posture.SITTING, lean == Side.LEFT, lean == Side.RIGHT,
                         crossed, asym, unit, bouts,
                         np.array([b.ended_by == "break" for b in result.bouts]))

    @classmethod
    def from_truth(cls, truth: pd.DataFrame, bouts: np.ndarray) -> "Timeline":
        """From simulator ground truth and its unbroken-sitting bouts (every one ends a break)."""
        sitting = (truth["posture"] == "sitting").to_numpy()
        lean = truth["lean_side"].to_numpy()
        return cls._make(truth["t"].to_numpy(dtype=float), np.ones(len(truth), dtype=bool),
                         sitting, lean == "left", lean == "right",
                         (truth["crossed"] != "none").to_numpy(),
                         truth["lean_deg"].to_numpy(dtype=float), "deg", bouts,
                         np.ones(len(bouts), dtype=bool))

    @classmethod
    def _make(cls, t, measured, sitting, left, right, crossed, asym, unit, bouts,
              bout_breaks) -> "Timeline":
        """From per-second masks (``crossed`` None: not measured); each side counts only while
        sitting."""
        asym = np.where(sitting & np.isfinite(asym), asym, 0.0)
        return cls(t, measured, sitting, sitting & left, sitting & right,
                   None if crossed is None else sitting & crossed, asym, unit,
                   np.asarray(bouts, dtype=float).reshape(-1, 2), np.asarray(bout_breaks, bool))

    @classmethod
    def join(cls, parts: Sequence["Timeline"]) -> "Timeline":
        """One timeline of several non-overlapping ones (e.g. consecutive recordings)."""
        parts = sorted(parts, key=lambda p: p.t[0] if len(p.t) else math.inf)
        for a, b in zip(parts, parts[1:]):
            if len(a.t) and len(b.t) and b.t[0] <= a.t[-1]:
                raise ConfigError("recordings overlap in time; give recordings of one sensor, "
                                  "one after another")
        units = {p.asymmetry_unit for p in parts if p.sitting.any()} or {"deg"}
        if len(units) > 1:
            raise ConfigError("recordings mix sensors (lean in degrees and mat symmetry index)")
        if len({p.crossed is None for p in parts}) > 1:
            raise ConfigError("recordings mix sensors (crossed legs measured by one, not by "
                              "another)")
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        return cls(cat("t"), cat("measured"), cat("sitting"), cat("left"), cat("right"),
                   None if parts[0].crossed is None else cat("crossed"), cat("asymmetry"),
                   units.pop(),
                   np.concatenate([p.bouts for p in parts]).reshape(-1, 2), cat("bout_breaks"))


@dataclass(frozen=True)
class ExposureEffect:
    """One exposure compared between flare and other reports."""

    name: str
    label: str
    unit: str
    flare_mean: float | None             # None (and so every number below): not measured
    other_mean: float | None
    diff: float | None                   # flare mean - other mean
    diff_ci: tuple[float, float] | None  # bootstrap 95 % CI (percentile)
    d: float | None                      # Cohen's d (pooled SD); None when both groups constant
    p_raw: float | None                  # permutation p of this exposure alone
    p: float | None                      # family-wise adjusted (step-down max-T); None: constant
    linked: bool                         # p <= alpha

    @classmethod
    def not_measured(cls, name: str, label: str, unit: str) -> "ExposureEffect":
        """An exposure the sensor cannot see (crossed legs from a hip IMU): no numbers, no test."""
        return cls(name, label, unit, None, None, None, None, None, None, None, False)

    @property
    def measured(self) -> bool:
        return self.flare_mean is not None


@dataclass(frozen=True)
class FlareAnalysis:
    """Result of ``flare_analysis`` (fields in docs/flares.md)."""

    status: str                          # 'ok' | 'no_link' | 'not_enough_data'
    n_reports: int
    n_used: int
    n_no_data: int
    n_follow_ups: int
    n_flares: int
    baseline_pain: float | None
    flare_threshold: float | None
    tolerance_min: float | None
    tolerance_ci_min: tuple[float, float] | None
    loaded_side: str | None
    exposures: list[ExposureEffect]
    summary: str

    def to_json(self) -> dict:
        out = {"schema": JSON_SCHEMA, **asdict(self)}
        out["tolerance_ci_min"] = list(self.tolerance_ci_min) if self.tolerance_ci_min else None
        for e in out["exposures"]:
            e["diff_ci"] = None if e["diff_ci"] is None else list(e["diff_ci"])
        return out


def sitting_exposures(config: FlareConfig) -> set[str]:
    """The exposures that measure sitting itself (a link with any of them gives a tolerance)."""
    return {*(f"sitting_{s:g}_min" for s in config.sitting_windows_min), "longest_bout_min"}


def exposure_names(config: FlareConfig) -> list[tuple[str, str, str, int]]:
    """(name, plain-language label, unit, harmful direction) of every exposure, in output order.

    The direction (+1: more before flares, -1: less) is the one each test looks for.
    """
    w = f"{config.window_min:g}"
    return [*((f"sitting_{s:g}_min", f"sitting in the last {s:g} min", "min", 1)
              for s in config.sitting_windows_min),
            ("longest_bout_min", f"longest unbroken sitting in the last {w} min", "min", 1),
            ("left_load_min", f"sitting with the left side loaded in the last {w} min", "min", 1),
            ("right_load_min", f"sitting with the right side loaded in the last {w} min", "min",
             1),
            ("mean_asymmetry", f"mean sideways lean while sitting in the last {w} min", "", 1),
            ("crossed_min", f"legs crossed in the last {w} min", "min", 1),
            ("breaks", f"breaks taken in the last {w} min", "breaks", -1)]


def report_exposures(timeline: Timeline, times: np.ndarray, config: FlareConfig) -> pd.DataFrame:
    """One row of exposures per report time (columns ``exposure_names`` plus ``coverage``); NaN
    for an exposure the sensor does not measure."""
    import pandas as pd

    return pd.DataFrame(_exposures(timeline, times, config))


def _exposures(timeline: Timeline, times: np.ndarray, config: FlareConfig) -> dict[str, np.ndarray]:
    """The columns of ``report_exposures``."""
    times = np.asarray(times, dtype=float)
    tl = timeline

    def window_sum(values: np.ndarray, minutes: float) -> np.ndarray:
        cum = np.concatenate(([0.0], np.cumsum(values, dtype=float)))
        lo = np.searchsorted(tl.t, times - 60.0 * minutes, side="left")
        hi = np.searchsorted(tl.t, times, side="left")
        return cum[hi] - cum[lo]

    w = config.window_min
    out = {f"sitting_{s:g}_min": window_sum(tl.sitting, s) / 60.0
           for s in config.sitting_windows_min}
    start, end = tl.bouts[:, 0][None, :], tl.bouts[:, 1][None, :]
    now = times[:, None]
    overlaps = (start < now) & (end > now - 60.0 * w)
    out["longest_bout_min"] = np.where(overlaps, np.minimum(end, now) - start, 0.0).max(
        axis=1, initial=0.0) / 60.0
    out["left_load_min"] = window_sum(tl.left, w) / 60.0
    out["right_load_min"] = window_sum(tl.right, w) / 60.0
    sit_s = window_sum(tl.sitting, w)
    out["mean_asymmetry"] = np.divide(window_sum(np.abs(tl.asymmetry), w), sit_s,
                                      out=np.zeros_like(sit_s), where=sit_s > 0)
    out["crossed_min"] = np.full(len(times), np.nan) if tl.crossed is None \
        else window_sum(tl.crossed, w) / 60.0
    ended = (end >= now - 60.0 * w) & (end < now) & tl.bout_breaks[None, :]
    out["breaks"] = ended.sum(axis=1).astype(float)
    out["coverage"] = window_sum(tl.measured, w) / (60.0 * w)
    return out


def sitting_before(timeline: Timeline, times: np.ndarray, window_min: float) -> np.ndarray:
    """Minutes of unbroken sitting before each time: from the start of the last bout that began
    before it to the time, or to the bout's end when it ended before; 0 when that bout ended more
    than ``window_min`` before (or there is none)."""
    times = np.asarray(times, dtype=float)
    if not len(timeline.bouts):
        return np.zeros(len(times))
    start, end = timeline.bouts.T
    last = np.maximum(np.searchsorted(start, times, side="left") - 1, 0)
    s, e = start[last], end[last]
    recent = (s < times) & (e > times - 60.0 * window_min)
    return np.where(recent, np.minimum(e, times) - s, 0.0) / 60.0


def flare_analysis(entries: Sequence[DiaryEntry], timeline: Timeline,
                   config: FlareConfig = FlareConfig()) -> FlareAnalysis:
    """Relate the diary to the exposures before each report (see the module docstring)."""
    entries = sorted(entries, key=lambda e: e.t)
    pain = np.array([e.pain for e in entries], dtype=float)
    times = np.array([e.t for e in entries], dtype=float)
    if not entries:
        return _not_enough(config, 0, 0, 0, 0, 0, None, None)
    baseline = float(np.median(pain)) if config.baseline_pain is None else config.baseline_pain
    threshold = min(baseline + config.flare_rise, float(config.flare_pain))
    flare = pain >= threshold
    exposures = _exposures(timeline, times, config)
    covered = exposures.pop("coverage") >= config.min_coverage
    groups = _Groups(times, covered, 60.0 * config.episode_min)
    is_flare, is_other = (g[0] for g in groups.of(flare[None, :]))
    follow_up = flare & ~groups.first_of_flare(flare[None, :])[0]
    n_flares, n_used = int(is_flare.sum()), int((is_flare | is_other).sum())
    counts = (len(entries), n_used, int((~covered & ~follow_up).sum()), int(follow_up.sum()))
    if (n_used < config.min_reports or n_flares < config.min_flares
            or n_used - n_flares < config.min_other):
        return _not_enough(config, *counts, n_flares, baseline, threshold)
    days = np.floor(times / 86400.0).astype(np.int64)
    effects = _effects(np.column_stack(list(exposures.values())), flare, groups, days,
                       timeline.asymmetry_unit, config)
    by_name = {e.name: e for e in effects}
    tolerance = ci = None
    if any(e.linked for e in effects if e.name in sitting_exposures(config)):
        durations = sitting_before(timeline, times[is_flare], config.window_min)
        durations = durations[durations > 0]
        tolerance = float(np.median(durations))
        ci = median_ci(durations)
    sides = [e for e in (by_name["left_load_min"], by_name["right_load_min"]) if e.linked]
    side = max(sides, key=lambda e: e.d or 0.0).name.split("_")[0] if sides else None
    status = "ok" if tolerance is not None else "no_link"
    summary = _summary(status, effects, n_flares, n_used, threshold, tolerance, ci, side, config)
    return FlareAnalysis(status, *counts, n_flares, baseline, threshold, tolerance, ci, side,
                         effects, summary)


def format_p(p: float) -> str:
    """'<0.001' or '=0.012'."""
    return "<0.001" if p < 0.001 else f"={p:.3f}"


def break_prompt_min(analysis: FlareAnalysis, fraction: float = 0.8, floor_min: float = 15.0,
                     ceiling_min: float = 60.0) -> float | None:
    """The break-prompt threshold from a tolerance: ``fraction`` of it, within floor and ceiling
    (``alerts.PolicyConfig.sitting_tolerance_min``); None without a tolerance."""
    if not 0 < fraction <= 1 or not 0 < floor_min <= ceiling_min:
        raise ConfigError("fraction must be in (0, 1] and 0 < floor <= ceiling")
    if analysis.tolerance_min is None:
        return None
    return float(min(ceiling_min, max(floor_min, fraction * analysis.tolerance_min)))


# --- internals --------------------------------------------------------------------------------

class _Groups:
    """Which reports are compared, for the observed flare labels or any permutation of them:
    flares that start a flare (no flare report in the ``gap_s`` before) and other reports, both
    with data before them. Rows of a (B, n) label array are label sets; reports sorted by time."""

    def __init__(self, times: np.ndarray, covered: np.ndarray, gap_s: float):
        self.times, self.covered, self.gap_s = times, covered, gap_s

    def first_of_flare(self, labels: np.ndarray) -> np.ndarray:
        stamped = np.where(labels, self.times[None, :], -np.inf)
        previous = np.maximum.accumulate(stamped, axis=1)[:, :-1]
        previous = np.concatenate((np.full((len(labels), 1), -np.inf), previous), axis=1)
        return labels & (self.times[None, :] - previous >= self.gap_s)

    def of(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flare, other) masks, each (B, n)."""
        return self.first_of_flare(labels) & self.covered, ~labels & self.covered


def _not_enough(config: FlareConfig, n_reports, n_used, n_no_data, n_follow, n_flares,
                baseline, threshold) -> FlareAnalysis:
    summary = (f"Not enough data yet: {n_used} usable reports with {n_flares} flares; at least "
               f"{config.min_reports} reports, {config.min_flares} of them flares and "
               f"{config.min_other} not, are needed.")
    return FlareAnalysis("not_enough_data", n_reports, n_used, n_no_data, n_follow, n_flares,
                         baseline, threshold, None, None, None, [], summary)


def _within_strata_permutations(y: np.ndarray, strata: np.ndarray, n: int,
                                rng: np.random.Generator) -> np.ndarray:
    """(n, len(y)) label vectors, each ``y`` permuted within every stratum."""
    out = np.empty((n, len(y)), dtype=bool)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        out[:, idx] = rng.permuted(np.tile(y[idx], (n, 1)), axis=1)
    return out


def _statistics(values: np.ndarray, sd: np.ndarray, flare: np.ndarray,
                other: np.ndarray) -> np.ndarray:
    """(B, k) standardised differences of means, flare minus other, of (B, n) group masks."""
    nf, no = flare.sum(axis=1)[:, None], other.sum(axis=1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (flare.astype(float) @ values) / nf - (other.astype(float) @ values) / no
        stat = diff / (sd[None, :] * np.sqrt(1.0 / nf + 1.0 / no))
    return np.where((nf > 0) & (no > 0), stat, -np.inf)


def _effects(values: np.ndarray, flare: np.ndarray, groups: _Groups, strata: np.ndarray,
             asym_unit: str, config: FlareConfig) -> list[ExposureEffect]:
    """Tests and effect sizes; ``values`` (n, k) and ``flare`` cover every report. The labels
    are permuted before the follow-up rule, so the test includes it. Exposures not measured (NaN)
    or constant are not tested and not in the family the p values are adjusted over."""
    rng = np.random.default_rng(config.seed)
    is_flare, is_other = (g[0] for g in groups.of(flare[None, :]))
    used = is_flare | is_other
    measured = ~np.isnan(values).any(axis=0)
    sd = values[used].std(axis=0, ddof=1)
    testable = measured & (sd > 0)
    sd = sd[testable]
    direction = np.array([d for *_, d in exposure_names(config)])[testable]
    observed = direction * _statistics(values[:, testable], sd, is_flare[None, :],
                                       is_other[None, :])[0]
    perms = _within_strata_permutations(flare, strata, config.permutations, rng)
    null = direction * _statistics(values[:, testable], sd, *groups.of(perms))
    p_raw = (1 + (null >= observed[None, :]).sum(axis=0)) / (config.permutations + 1)
    p_adj = _step_down_max_t(observed, null)
    fx, ox = values[is_flare], values[is_other]
    nf, no = len(fx), len(ox)
    lo, hi = np.full((2, values.shape[1]), np.nan)
    # each group resampled on its own, every exposure from the same resamples; the generator
    # goes on from the permutations, so the p values do not depend on the bootstrap
    lo[measured], hi[measured] = percentile_bootstrap(
        (fx[:, measured], ox[:, measured]), _mean_difference, config.bootstrap, rng)
    pooled = np.sqrt(((nf - 1) * fx.var(axis=0, ddof=1) + (no - 1) * ox.var(axis=0, ddof=1))
                     / (nf + no - 2))
    p_of = dict(zip(np.flatnonzero(testable), zip(p_raw, p_adj)))
    effects = []
    for j, (name, label, unit, _) in enumerate(exposure_names(config)):
        unit = unit or asym_unit
        if not measured[j]:
            effects.append(ExposureEffect.not_measured(name, label, unit))
            continue
        pr, pa = p_of.get(j, (None, None))
        diff = float(fx[:, j].mean() - ox[:, j].mean())
        effects.append(ExposureEffect(
            name, label, unit, float(fx[:, j].mean()), float(ox[:, j].mean()),
            diff, (float(lo[j]), float(hi[j])),
            float(diff / pooled[j]) if pooled[j] > 0 else None,
            None if pr is None else float(pr), None if pa is None else float(pa),
            pa is not None and bool(pa <= config.alpha)))
    return effects


def _mean_difference(flare: np.ndarray, other: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of the flare reports minus mean of the others (the bootstrap's statistic)."""
    return flare.mean(axis=axis) - other.mean(axis=axis)


def _step_down_max_t(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Family-wise adjusted p values of the step-down max-T method (Westfall & Young 1993,
    algorithm 2.8): the exposure with the largest statistic is held against the maximum over all
    exposures, the next against the maximum over all but the first, and so on; the p values are
    then made monotone in that order. ``observed`` (k,), ``null`` (B, k)."""
    order = np.argsort(-observed, kind="stable")
    successive_max = np.maximum.accumulate(null[:, order[::-1]], axis=1)[:, ::-1]
    p = (1 + (successive_max >= observed[order][None, :]).sum(axis=0)) / (len(null) + 1)
    out = np.empty_like(p)
    out[order] = np.maximum.accumulate(p)
    return out


def _summary(status, effects, n_flares, n_used, threshold, tolerance, ci, side, config) -> str:
    head = f"{n_flares} flares (pain {threshold:g} or more) among {n_used} reports. "
    linked = [e for e in effects if e.linked]
    if not linked:
        return head + (f"No exposure was clearly linked to flares (every adjusted p > "
                       f"{config.alpha:g}); no personal sitting tolerance yet.")
    text = head
    if status == "ok":
        interval = f"95% CI {ci[0]:.0f}-{ci[1]:.0f} min" if ci else "too few for a 95% CI"
        text += (f"Flares were reported after a median of {tolerance:.0f} min of unbroken "
                 f"sitting ({interval})")
        text += f", mostly with the {side} side loaded. " if side else ". "
    details = [f"{e.label} ({e.flare_mean:.1f} vs {e.other_mean:.1f}"
               f"{' ' + e.unit if e.unit else ''}, p{format_p(e.p)})" for e in linked]
    return text + "Before flares, compared with other reports: " + "; ".join(details) + "."
