"""Decoded sensor data as it leaves the decoder: the record every later stage consumes (the
ground floor)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitload.vocab import SensorKind


@dataclass(frozen=True)
class SampleBatch:
    """Consecutive samples of one device with UTC times.

    ``t`` holds UTC epoch seconds, one per sample. IMU batches carry ``accel`` in g (n x 3) and,
    when the device sends it, ``gyro`` in degrees/s (n x 3). Mat batches carry ``pressure`` in kPa
    (n x rows x cols). ``gap_before_s`` > 0 says frames were lost just before this batch (the
    samples are *not* filled in); ``missing_frames`` counts them.
    """

    kind: SensorKind
    t: np.ndarray
    accel: np.ndarray | None = None
    gyro: np.ndarray | None = None
    pressure: np.ndarray | None = None
    first_seq: int = 0
    gap_before_s: float = 0.0
    missing_frames: int = 0

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def select(self, index) -> "SampleBatch":
        """The samples at ``index`` (a slice, mask or index array); the gap fields are kept."""
        def pick(x):
            return None if x is None else x[index]

        return SampleBatch(self.kind, self.t[index], pick(self.accel), pick(self.gyro),
                           pick(self.pressure), self.first_seq, self.gap_before_s,
                           self.missing_frames)
