"""How sitting time accumulates over bouts (Chastin & Granat 2010, Gait & Posture 31:82-86)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from sitload.vocab import PROLONGED_S, prolonged_minutes


@dataclass(frozen=True)
class ProlongedBouts:
    """How many bouts lasted at least ``threshold_s``, one of ``AnalysisConfig.prolonged_s``."""

    threshold_s: float
    count: int

    @property
    def minutes(self) -> int:
        return prolonged_minutes(self.threshold_s)

    @property
    def name(self) -> str:
        return bouts_name(self.threshold_s)


def bouts_name(threshold_s: float) -> str:
    """The name of the count of bouts of at least ``threshold_s`` in JSON, CSV and the report:
    ``bouts_30`` for 1800 s."""
    return f"bouts_{prolonged_minutes(threshold_s)}"


def prolonged_bouts(durations_s: np.ndarray, thresholds_s: Sequence[float]
                    ) -> tuple[ProlongedBouts, ...]:
    """The bouts of at least each threshold (seconds)."""
    return tuple(ProlongedBouts(float(t), int(np.sum(durations_s >= t))) for t in thresholds_s)


def named_counts(record: object) -> dict:
    """A dataclass's fields as JSON, its ``prolonged`` counts in their place under their names
    (``bouts_30``, ``bouts_60`` with the default thresholds)."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name == "prolonged":
            out.update((p.name, p.count) for p in value)
        else:
            out[f.name] = value
    return out


@dataclass(frozen=True)
class AccumulationMetrics:
    """Bout-length distribution of one set of sitting bouts (see docs/metrics.md).

    ``w50_s``, ``alpha`` and ``gini`` are None when they are undefined (no bouts; ``alpha`` also
    when all bouts have the same length).
    """

    total_s: float
    n_bouts: int
    mean_s: float | None
    median_s: float | None
    prolonged: tuple[ProlongedBouts, ...]
    w50_s: float | None
    alpha: float | None
    gini: float | None
    x_min_s: float | None

    def to_json(self) -> dict:
        return named_counts(self)


def accumulation_metrics(durations_s, x_min_s: float | None = None,
                         prolonged_s: Sequence[float] = PROLONGED_S) -> AccumulationMetrics:
    """Metrics of the bout durations (seconds); ``x_min_s`` defaults to the shortest bout;
    ``prolonged_s``: the prolonged-sitting thresholds (``AnalysisConfig.prolonged_s``).

    W50: with durations sorted ascending x_(1) <= ... <= x_(n) and cumulative time fractions
    F_k = sum_{i<=k} x_(i) / sum x, W50 is the duration where the piecewise-linear curve through the
    points (x_(k), F_k) crosses F = 0.5 (numpy.interp; clamped to x_(1) when F_1 >= 0.5).
    alpha = 1 + n / sum ln(x_i / x_min) over bouts with x_i >= x_min (maximum-likelihood power-law
    exponent). gini = sum_i sum_j |x_i - x_j| / (2 n^2 mean). The median is that of the sorted
    durations' middle one or two, as numpy.median computes it (without numpy.median's import of
    numpy.ma).
    """
    x = np.sort(np.asarray(durations_s, dtype=float))
    if x.size and (not np.all(np.isfinite(x)) or x[0] <= 0):
        raise ValueError("bout durations must be finite and > 0")
    n = int(x.size)
    total = float(x.sum())
    if n == 0:
        return AccumulationMetrics(0.0, 0, None, None, prolonged_bouts(x, prolonged_s), None,
                                   None, None, None)
    x_min = float(x[0]) if x_min_s is None else float(x_min_s)
    frac = np.cumsum(x) / total
    w50 = float(np.interp(0.5, frac, x))
    tail = x[x >= x_min]
    log_sum = float(np.log(tail / x_min).sum())
    alpha = 1.0 + tail.size / log_sum if log_sum > 0 else None
    ranks = np.arange(1, n + 1)
    gini = float(2.0 * np.sum(ranks * x) / (n * total) - (n + 1) / n)
    return AccumulationMetrics(
        total_s=total, n_bouts=n, mean_s=total / n,
        median_s=float((x[(n - 1) // 2] + x[n // 2]) / 2),
        prolonged=prolonged_bouts(x, prolonged_s),
        w50_s=w50, alpha=alpha if alpha is None or math.isfinite(alpha) else None,
        gini=gini, x_min_s=x_min)
