"""Samples faster than a recording holds: phones log at up to ~500 Hz, Axivity devices at up to
3200 Hz, while a recording takes 10-200 Hz (sitload.services.importers)."""

from __future__ import annotations

import numpy as np

from sitload.services.importers import MAX_RATE_HZ, CsvData

BIN_HZ = 100.0


def thinned(data: CsvData) -> CsvData:
    """``data`` as it is when its median sample spacing is at most MAX_RATE_HZ; else its samples
    averaged over each 1 / BIN_HZ s (a low-pass before the import resamples them)."""
    if data.t.size < 2 or np.median(np.diff(data.t)) >= 1 / MAX_RATE_HZ:
        return data
    bins = np.floor(data.t * BIN_HZ)
    first = np.flatnonzero(np.r_[True, np.diff(bins) > 0])
    count = np.diff(np.r_[first, data.t.size])

    def mean(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, first, axis=0) / count.reshape(-1, *[1] * (values.ndim - 1))

    return data._replace(t=mean(data.t), accel=mean(data.accel),
                         gyro=None if data.gyro is None else mean(data.gyro))
