"""Decoded sensor data as it leaves the decoder: the record every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class SensorKind(IntEnum):
    """Sensor kind codes as on the wire (docs/protocol.md)."""

    THIGH_IMU = 1
    HIP_IMU = 2
    PRESSURE = 3

    @property
    def cli_name(self) -> str:
        return {1: "thigh-imu", 2: "hip-imu", 3: "pressure"}[self.value]

    @classmethod
    def from_cli(cls, name: str) -> "SensorKind":
        for kind in cls:
            if kind.cli_name == name:
                return kind
        raise ValueError(f"unknown sensor kind {name!r}")


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
