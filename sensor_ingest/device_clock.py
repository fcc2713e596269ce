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
        self._last_host = np.nan  # NaN: not known
        self._epochs = 0

    def seconds(self, ticks: int, host_s: float | None = None) -> float:
        """Device seconds of ``ticks``, received at host time ``host_s`` when known."""
        host = np.nan if host_s is None else host_s
        return float(self.seconds_many(np.array([ticks]), np.array([host]))[0])

    def seconds_many(self, ticks: np.ndarray, host_s: np.ndarray) -> np.ndarray:
        """Device seconds of successive ``ticks``, received at host times ``host_s`` (NaN where not
        known), as ``seconds`` would give them one by one."""
        ticks = np.asarray(ticks, dtype=np.int64)
        host = np.asarray(host_s, dtype=np.float64)
        if ticks.size == 0:
            return np.empty(0)
        before = np.concatenate(([ticks[0] if self._last is None else self._last], ticks[:-1]))
        silence = host - np.concatenate(([self._last_host], host[:-1]))  # NaN when not known
        long = silence > WRAP_S / 2
        wraps = np.where(long, np.round((silence - (ticks - before) / TICKS_PER_S) / WRAP_S), 0.0)
        steps = wraps.astype(np.int64) + (~long & (ticks < before) & (before - ticks > WRAP // 2))
        epochs = self._epochs + np.cumsum(steps)
        self._epochs, self._last, self._last_host = int(epochs[-1]), int(ticks[-1]), float(host[-1])
        return (epochs * WRAP + ticks) / TICKS_PER_S


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
        self.observe_many(np.array([device_s]), np.array([host_s]))

    def observe_many(self, device_s: np.ndarray, host_s: np.ndarray,
                     at: np.ndarray | None = None) -> np.ndarray | None:
        """Add successive frames, as ``observe`` one by one; with ``at``, also the offset at
        ``at[i]`` as estimated right after frame i (what ``offset`` would have said then)."""
        device_s = np.asarray(device_s, dtype=np.float64)
        offsets = np.asarray(host_s, dtype=np.float64) - device_s
        windows = device_s // self.window_s
        out = None if at is None else np.empty(device_s.size)
        if device_s.size == 0:
            return out
        edges = np.flatnonzero(windows[1:] != windows[:-1]) + 1
        for a, b in zip([0, *edges.tolist()], [*edges.tolist(), device_s.size]):
            window, seg = int(windows[a]), offsets[a:b]
            first = int(np.argmin(seg))  # the first of the smallest: a later equal one does not replace it
            before = np.inf    # the window's minimum before this segment
            if window != self._window:
                if self._window_min is not None:
                    self._minima.append(self._window_min)
                    self._refit()
                self._window, self._window_min = window, (float(device_s[a + first]), float(seg[first]))
            else:
                before = self._window_min[1]
                if seg[first] < before:
                    self._window_min = (float(device_s[a + first]), float(seg[first]))
            if len(self._minima) < self.min_windows:    # the running minimum sets the offset
                running = np.minimum(np.minimum.accumulate(seg), before)
                floor = min((m[1] for m in self._minima), default=np.inf)
                intercepts = np.minimum(running, floor)
                self._slope, self._intercept = 0.0, float(intercepts[-1])
                if out is not None:
                    out[a:b] = intercepts + 0.0 * at[a:b]
            elif out is not None:
                out[a:b] = self._intercept + self._slope * at[a:b]
        return out

    def _refit(self) -> None:
        """The least-squares line through the windows' minima, about their mean device time (at
        least two windows: their minima lie at distinct times); a few dozen points, in float
        arithmetic."""
        n = len(self._minima)
        if n < max(self.min_windows, 2):
            return
        mean_d = sum(d for d, _ in self._minima) / n
        mean_off = sum(off for _, off in self._minima) / n
        sxx = sum((d - mean_d) ** 2 for d, _ in self._minima)
        sxy = sum((d - mean_d) * (off - mean_off) for d, off in self._minima)
        self._slope = sxy / sxx
        self._intercept = mean_off - self._slope * mean_d

    def offset(self, device_s: float) -> float:
        """UTC minus device time at ``device_s``, as estimated so far."""
        if self._intercept is None:
            raise RuntimeError("DeviceClock.offset before any observation")
        return self._intercept + self._slope * device_s

    @property
    def drift_ppm(self) -> float:
        """Estimated device clock error: positive when the device clock runs fast."""
        return -self._slope * 1e6
