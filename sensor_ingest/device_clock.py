"""Map device ticks to UTC with drift correction.

A frame leaves the device after its last sample and reaches the host a little later (BLE latency is
never negative), so ``host_time - device_time`` is the clock offset plus a latency >= 0. The lower
envelope of that difference is the offset; its slope over time is the device clock's drift. We keep
the minimum per window of device time and fit a line through the last windows' minima. Causal: the
mapping of a frame depends only on frames before it and itself, so live, recorded and replayed data
map identically.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from sitload.sensor_ingest.frame_codec import TICKS_PER_S

WRAP = 1 << 32
WRAP_S = WRAP / TICKS_PER_S  # 36.4 h


class TickUnwrapper:
    """Turns a wrapping uint32 tick counter into monotonically growing device seconds.

    A backward step of more than half the range is one wrap. After a silence longer than half the
    range (18.2 h: a device out of reach overnight and the next day, or a hole in imported data) a
    step cannot tell how many wraps passed, so the receive times decide: the host time elapsed
    minus the tick time elapsed is a whole number of wraps, give or take the clock drift and
    latency (seconds against 36.4 h).
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._last_host: float | None = None
        self._epochs = 0

    def seconds(self, ticks: int, host_s: float | None = None) -> float:
        """Device seconds of ``ticks``, received at host time ``host_s`` when known."""
        if self._last is not None:
            silence = None if host_s is None or self._last_host is None \
                else host_s - self._last_host
            if silence is not None and silence > WRAP_S / 2:
                self._epochs += round((silence - (ticks - self._last) / TICKS_PER_S) / WRAP_S)
            elif ticks < self._last and self._last - ticks > WRAP // 2:
                self._epochs += 1
        self._last, self._last_host = ticks, host_s
        return (self._epochs * WRAP + ticks) / TICKS_PER_S


class DeviceClock:
    """Device seconds -> UTC epoch seconds, fitted on (device end time, host receive time) pairs."""

    def __init__(self, window_s: float = 60.0, windows: int = 30, min_windows: int = 3):
        self.window_s = window_s
        self.min_windows = min_windows
        self._minima: deque[tuple[float, float]] = deque(maxlen=windows)
        self._window: int | None = None
        self._window_min: tuple[float, float] | None = None
        self._slope = 0.0
        self._intercept: float | None = None  # offset at device time 0

    def observe(self, device_s: float, host_s: float) -> None:
        """Add one frame: the device time of its last sample and when the host received it."""
        offset = host_s - device_s
        window = int(device_s // self.window_s)
        if window != self._window:
            if self._window_min is not None:
                self._minima.append(self._window_min)
                self._refit()
            self._window, self._window_min = window, (device_s, offset)
        elif offset < self._window_min[1]:
            self._window_min = (device_s, offset)
        if len(self._minima) < self.min_windows:
            current = min([m[1] for m in self._minima] + [self._window_min[1]])
            self._slope, self._intercept = 0.0, current

    def _refit(self) -> None:
        if len(self._minima) < self.min_windows:
            return
        d, off = np.array(self._minima).T
        slope, intercept = np.polyfit(d - d.mean(), off, 1)
        self._slope, self._intercept = float(slope), float(intercept - slope * d.mean())

    def offset(self, device_s: float) -> float:
        """UTC minus device time at ``device_s``, as estimated so far."""
        if self._intercept is None:
            raise RuntimeError("DeviceClock.offset before any observation")
        return self._intercept + self._slope * device_s

    @property
    def drift_ppm(self) -> float:
        """Estimated device clock error: positive when the device clock runs fast."""
        return -self._slope * 1e6
