"""Confidence intervals of the flare analysis, in numpy alone (importing ``scipy.stats`` takes
longer than the analysis it serves).

``percentile_bootstrap`` is ``scipy.stats.bootstrap(..., method="percentile")`` for a vectorised
statistic of independent samples, operation for operation: the same draws from the generator,
the same resamples and the same quantile formula, so the same interval bit for bit
(tests/test_flares.py holds it against scipy). ``median_ci`` is the order-statistic interval of a
median, with the binomial tail in exact integers.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb

import numpy as np


def percentile_bootstrap(samples: tuple[np.ndarray, ...],
                         statistic: Callable[..., np.ndarray], n_resamples: int,
                         rng: np.random.Generator, level: float = 0.95
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI (Efron & Tibshirani 1993) of ``statistic(*samples, axis=-1)``.

    Each sample (n_i, k) is resampled on its own, ``n_resamples`` times, every column from the
    same resampled rows; returns the (low, high) bounds, each (k,)."""
    resampled = []
    for sample in samples:
        rows = sample.shape[0]
        picks = rng.integers(0, rows, (n_resamples, rows), dtype=np.int64)
        resampled.append(np.moveaxis(sample, 0, -1)[..., picks])     # (k, resamples, n_i)
    distribution = np.sort(statistic(*resampled, axis=-1), axis=-1)
    alpha = np.asarray((1.0 - level) / 2.0)
    return (_quantile(distribution, alpha), _quantile(distribution, 1 - alpha))


def _quantile(ordered: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The linear (Hyndman & Fan type 7) quantile ``p`` of each sorted row, in the arithmetic of
    ``scipy.stats.quantile``: (1 - g) x[j] + g x[j + 1]."""
    n = float(ordered.shape[-1])
    jg = p * n + (1 - p)
    jp1 = jg // 1
    j = jp1 - 1
    g = jg % 1
    if j < 0:
        g = np.zeros_like(g)
    j, jp1 = (int(np.clip(v, 0.0, n - 1)) for v in (j, jp1))
    return (1 - g) * ordered[..., j] + g * ordered[..., jp1]


def median_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free CI of the median from independent values: the order statistics
    x(k) and x(n + 1 - k) with the largest k for which P(Bin(n, 1/2) < k) <= (1 - level) / 2; they
    enclose the median with probability 1 - 2 P(Bin(n, 1/2) < k) >= ``level`` (Conover 1999,
    section 3.2). None when no k qualifies (fewer than 6 values at 95 %)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    # P(Bin(n, 1/2) <= k) = below / 2^n against the bound num / den (the float, exactly)
    num, den = ((1.0 - level) / 2.0).as_integer_ratio()
    below, k = 0, 0                                  # outcomes with fewer than k + 1 successes
    while k < n:
        below += comb(n, k)
        if below * den > num * 2 ** n:
            break
        k += 1
    j = k - 1                                        # P(Bin(n, 1/2) <= j) within the bound
    return None if j < 0 else (float(x[j]), float(x[n - 1 - j]))
