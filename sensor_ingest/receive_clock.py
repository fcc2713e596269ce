"""Sample times for a device without a clock in its packets, from the host's receive times.

BLE delivers notifications in connection events (every 7.5-50 ms), so several packets share one
receive time and the next ones arrive late: stamping each packet with its own receive time turns
that batching into jitter. ``ReceiveClock`` instead fits, within a run of consecutive packets,
receive time against packet index (least squares, pulled towards the expected period by a weak
prior so the first packets of a run have a sensible period) and stamps packet k with the fit of
packets 0..k. The stamps depend only on the packets before them, so feeding the same packets in
other chunks (live flushes, recording chunks) gives the same times. A packet that arrives more than
``gap_s`` after the fit expects it starts a new run: the stretch between is a gap, never filled in.
The fit's slope is the device's measured rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIOR_PACKETS = 10.0  # the expected period weighs like this many packets' worth of data
MIN_GAP_S = 1.0  # silences shorter than this (or 5 periods) are batching, not gaps
STEP_S = 1e-6  # stamps never go back and differ by at least this (float resolution of UTC: 0.24 us)


@dataclass
class _Run:
    """Running sums of (index, receive time - t_ref) for one run of packets."""

    t_ref: float
    n: int = 0
    sx: float = 0.0
    st: float = 0.0
    sxx: float = 0.0
    sxt: float = 0.0
    last: float = -np.inf  # the latest stamp


@dataclass(frozen=True)
class Stamped:
    """Times for one stretch of packets: ``t`` per packet, ``gap_before`` (start, end) when a
    gap precedes it."""

    start: int  # index of the stretch's first packet in the fed array
    t: np.ndarray
    gap_before: tuple[float, float] | None


class ReceiveClock:
    """Stamps packets of one device from their receive times (see the module notes)."""

    def __init__(self, period_s: float):
        self.period_s = float(period_s)
        self._run: _Run | None = None

    @property
    def gap_s(self) -> float:
        return max(MIN_GAP_S, 5 * self.period_s)

    @property
    def measured_period_s(self) -> float | None:
        """The slope of the current run's fit (None before two packets)."""
        run = self._run
        if run is None or run.n < 2:
            return None
        return float(_slopes(run.n, run.sx, run.st, run.sxx, run.sxt, self.period_s))

    @property
    def run_packets(self) -> int:
        return 0 if self._run is None else self._run.n

    def stamp(self, receive: np.ndarray) -> list[Stamped]:
        """Times for packets received at ``receive`` (host seconds, arrival order)."""
        receive = np.asarray(receive, dtype=np.float64)
        out: list[Stamped] = []
        start = 0
        while start < len(receive):
            gap_from = None
            if self._run is None:
                self._new_run(receive[start])
            t, late = self._fit(receive[start:])
            if late == 0:  # the first packet is late: a gap, then a new run
                gap_from = self._run.last + self.period_s
                self._new_run(receive[start])
                t, late = self._fit(receive[start:])
            stop = len(receive) if late is None else start + late
            t = t[:stop - start]
            self._commit(receive[start:stop], t)
            gap = None if gap_from is None else (gap_from, float(t[0]))
            out.append(Stamped(start, t, gap))
            start = stop
        return out

    # -- internals ------------------------------------------------------------------------------
    def _new_run(self, t0: float) -> None:
        last = -np.inf if self._run is None else self._run.last
        self._run = _Run(t_ref=float(t0), last=last)

    def _fit(self, receive: np.ndarray) -> tuple[np.ndarray, int | None]:
        """Stamps for ``receive`` continuing the current run, and the position of the first
        packet that arrives more than ``gap_s`` after the fit of the packets before it."""
        run = self._run
        x = run.n + np.arange(len(receive), dtype=np.float64)
        t = receive - run.t_ref
        n = run.n + np.arange(1, len(receive) + 1, dtype=np.float64)
        sx, st = run.sx + np.cumsum(x), run.st + np.cumsum(t)
        sxx, sxt = run.sxx + np.cumsum(x * x), run.sxt + np.cumsum(x * t)
        b = _slopes(n, sx, st, sxx, sxt, self.period_s)
        a = st / n - b * sx / n
        # the fit of the packets before each one: the run's so far, then the prefix's
        a_prev = np.concatenate(([self._intercept()], a[:-1]))
        b_prev = np.concatenate(([self.measured_period_s or self.period_s], b[:-1]))
        late = t - (a_prev + b_prev * x) > self.gap_s
        late[0] &= run.n > 0
        first_late = int(np.argmax(late)) if late.any() else None
        # strictly increasing: at least STEP_S after the stamp before
        floor = run.last + STEP_S - STEP_S * run.n
        stamps = np.maximum.accumulate(np.maximum(run.t_ref + a + b * x - STEP_S * x, floor))
        return stamps + STEP_S * x, first_late

    def _intercept(self) -> float:
        run = self._run
        if run.n == 0:
            return 0.0
        b = self.measured_period_s or self.period_s
        return run.st / run.n - b * run.sx / run.n

    def _commit(self, receive: np.ndarray, stamps: np.ndarray) -> None:
        run = self._run
        x = run.n + np.arange(len(receive), dtype=np.float64)
        t = receive - run.t_ref
        run.n += len(receive)
        run.sx += float(x.sum())
        run.st += float(t.sum())
        run.sxx += float((x * x).sum())
        run.sxt += float((x * t).sum())
        run.last = float(stamps[-1])


def _slopes(n, sx, st, sxx, sxt, prior: float) -> np.ndarray:
    """Least-squares slopes of time on index for each prefix, pulled towards ``prior``."""
    cxx = sxx - sx * sx / n
    cxt = sxt - sx * st / n
    weight = PRIOR_PACKETS ** 3 / 12.0  # the centred sum of squares of that many packets
    return (cxt + weight * prior) / (cxx + weight)
