"""The simulated person: a seeded plan of one wear day as per-second body states.

``plan_day`` lays out the day as alternating sitting bouts and breaks (standing / walking, a lunch
break with an optional lying rest) and then places, inside the sitting bouts, the behaviours the
analytics score:

- lean episodes (left and right, ``Scenario.lean_deg``, lasting minutes; ramped in over ~10 s),
  plus, for scenarios with ``sustained_lean_deg``, a lean that builds up a few minutes into most
  bouts and holds;
- crossed-leg episodes (left or right leg on top);
- weight shifts (5-30 s, load moved to one buttock);
- fidgets (2-10 s in-seat movements: no posture change);
- brief stand-ups (10-40 s, under the 45 s that would count as a break);
- an object left on the seat during some breaks (the seat is then loaded but not occupied).

Walking segments carry a step frequency (1.8-2.0 Hz) and a vertical acceleration amplitude
(0.3-0.6 g) used by ``signals``. The same (scenario, seed, day) always gives the same day, whatever
sensor is simulated, so a thigh IMU, a hip IMU and a mat of one seed describe one person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitload.firmware_sim.scenarios import Scenario
from sitload.firmware_sim.seeding import rng_for

POSTURES = ("sitting", "standing", "moving", "lying")
SITTING, STANDING, MOVING, LYING = range(4)
CROSSED = ("none", "left", "right")  # which leg is on top
LEAN_SIDE_MIN_DEG = 5.0


@dataclass(frozen=True)
class DayStates:
    """Per-second body states of one wear day (index = seconds since ``start_utc``).

    ``crossed``: 0 none, 1 left leg on top, 2 right leg on top. ``shift_side``: +1 load moved to
    the left buttock, -1 to the right, 0 no shift. ``object_id``: -1 none, else a per-break id that
    fixes the object's place on the mat. ``lying_roll_deg``: 0 supine, +90 lying on the left side,
    -90 on the right side.
    """

    start_utc: float
    posture: np.ndarray
    lean_deg: np.ndarray
    crossed: np.ndarray
    shift_side: np.ndarray
    fidget: np.ndarray
    object_id: np.ndarray
    step_hz: np.ndarray
    step_g: np.ndarray
    lying_roll_deg: np.ndarray

    def __len__(self) -> int:
        return int(self.posture.shape[0])

    @property
    def occupied(self) -> np.ndarray:
        return self.posture == SITTING

    def truth(self, s0: int, s1: int) -> pd.DataFrame:
        """Ground-truth rows for seconds ``s0..s1-1`` (columns as in the shared brief)."""
        sl = slice(s0, s1)
        lean = self.lean_deg[sl].astype(np.float64)
        side = np.where(lean >= LEAN_SIDE_MIN_DEG, "left",
                        np.where(lean <= -LEAN_SIDE_MIN_DEG, "right", "none"))
        return pd.DataFrame({
            "t": self.start_utc + np.arange(s0, s1, dtype=np.float64),
            "posture": np.asarray(POSTURES, dtype=object)[self.posture[sl]],
            "lean_deg": lean,
            "lean_side": side.astype(object),
            "crossed": np.asarray(CROSSED, dtype=object)[self.crossed[sl]],
            "shifting": self.shift_side[sl] != 0,
            "occupied": self.occupied[sl],
            "object_on_seat": self.object_id[sl] >= 0,
        })


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average with edge padding (ramps between piecewise-constant targets)."""
    pad = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(pad, np.ones(width) / width, mode="valid")


def _bout_length_s(sc: Scenario, rng: np.random.Generator) -> float:
    lo, hi = sc.bout_min
    if sc.bout_shape <= 0:
        return rng.uniform(lo, hi) * 60.0
    a, u = sc.bout_shape, rng.random()
    return lo / (1.0 - u * (1.0 - (lo / hi) ** a)) ** (1.0 / a) * 60.0


class _DayBuilder:
    """Fills the per-second arrays segment by segment."""

    def __init__(self, n: int):
        self.n = n
        self.t = 0
        self.posture = np.full(n, STANDING, dtype=np.int8)
        self.lean_target = np.zeros(n)
        self.crossed = np.zeros(n, dtype=np.int8)
        self.shift_side = np.zeros(n, dtype=np.int8)
        self.fidget = np.zeros(n, dtype=bool)
        self.object_id = np.full(n, -1, dtype=np.int64)
        self.step_hz = np.zeros(n, dtype=np.float32)
        self.step_g = np.zeros(n, dtype=np.float32)
        self.lying_roll = np.zeros(n, dtype=np.float32)
        self.bouts: list[tuple[int, int]] = []

    def add(self, posture: int, seconds: float) -> slice:
        a = self.t
        b = min(self.n, a + max(1, int(round(seconds))))
        self.posture[a:b] = posture
        self.t = b
        if posture == SITTING:
            self.bouts.append((a, b))
        return slice(a, b)


def _add_break(d: _DayBuilder, sc: Scenario, rng: np.random.Generator, minutes: float,
               lying_rest: bool) -> None:
    start = d.t
    first_walks = rng.random() < sc.walk_share
    first = minutes * rng.uniform(0.5, 0.9)
    for walks, dur in ((first_walks, first), (not first_walks, minutes - first)):
        seg = d.add(MOVING if walks else STANDING, dur * 60.0)
        if walks:
            d.step_hz[seg] = rng.uniform(1.8, 2.0)
            d.step_g[seg] = rng.uniform(0.3, 0.6)
    if lying_rest:
        seg = d.add(LYING, rng.uniform(15.0, 30.0) * 60.0)
        d.lying_roll[seg] = rng.choice([0.0, 0.0, 90.0, -90.0])
        d.add(STANDING, rng.uniform(0.5, 1.5) * 60.0)
    if rng.random() < sc.object_chance:
        d.object_id[start:d.t] = rng.integers(0, 2**31)


def _episodes(rng: np.random.Generator, a: int, b: int, per_h: float,
              length_s: tuple[float, float]) -> list[tuple[int, int]]:
    """Poisson-many episodes of uniform length placed uniformly inside [a, b)."""
    out = []
    for _ in range(rng.poisson(per_h * (b - a) / 3600.0)):
        length = int(min(b - a, rng.uniform(*length_s)))
        if length < 1:
            continue
        s = int(rng.integers(a, b - length + 1))
        out.append((s, s + length))
    return out


def _fill_bout(d: _DayBuilder, sc: Scenario, rng: np.random.Generator, a: int, b: int) -> None:
    if sc.sustained_lean_deg and rng.random() < 0.85:
        onset = min(b, a + int(rng.uniform(2.0, 6.0) * 60))
        d.lean_target[onset:b] = sc.sustained_lean_deg + rng.uniform(-2.0, 2.0)
    for s, e in _episodes(rng, a, b, sc.lean_per_h, tuple(60.0 * m for m in sc.lean_len_min)):
        sign = 1.0 if rng.random() < sc.lean_left_share else -1.0
        d.lean_target[s:e] = sign * rng.uniform(*sc.lean_deg)
    for s, e in _episodes(rng, a, b, sc.cross_per_h, tuple(60.0 * m for m in sc.cross_len_min)):
        d.crossed[s:e] = 1 if rng.random() < sc.cross_left_share else 2
    for s, e in _episodes(rng, a, b, sc.shift_per_h, (5.0, 30.0)):
        d.shift_side[s:e] = rng.choice([-1, 1])
    for s, e in _episodes(rng, a, b, sc.fidget_per_h, (2.0, 10.0)):
        d.fidget[s:e] = True
    if b - a > 180:
        for s, e in _episodes(rng, a + 60, b - 60, sc.standup_per_h, (10.0, 40.0)):
            d.posture[s:e] = STANDING
            d.crossed[s:e] = 0
            d.shift_side[s:e] = 0
            d.fidget[s:e] = False


def plan_day(sc: Scenario, seed: int, day: int, start_utc: float,
             wear_s: float | None = None) -> DayStates:
    """Per-second body states of wear day ``day`` (seeded from (scenario, seed, day)).

    ``wear_s`` cuts the day short (default: the scenario's ``wear_hours``); the plan of the seconds
    kept does not depend on it.
    """
    rng = rng_for("day-plan", sc.name, seed, day)
    full = int(round(sc.wear_hours * 3600))
    d = _DayBuilder(full)
    d.add(MOVING, rng.uniform(2.0, 5.0) * 60)  # arrival
    d.step_hz[: d.t] = rng.uniform(1.8, 2.0)
    d.step_g[: d.t] = rng.uniform(0.3, 0.6)
    d.add(STANDING, rng.uniform(0.5, 2.0) * 60)
    lunch_at = rng.uniform(0.42, 0.55) * full
    lunch_done = full < 5 * 3600
    while d.t < full:
        d.add(SITTING, _bout_length_s(sc, rng))
        if d.t >= full:
            break
        if not lunch_done and d.t >= lunch_at:
            lunch_done = True
            _add_break(d, sc, rng, rng.uniform(*sc.lunch_min),
                       lying_rest=rng.random() < sc.lying_rest_chance)
        else:
            _add_break(d, sc, rng, rng.uniform(*sc.break_min), lying_rest=False)
    for a, b in d.bouts:
        _fill_bout(d, sc, rng, a, b)
    sitting = d.posture == SITTING
    wobble = smooth(rng.normal(0.0, 2.5, full), 31)
    lean = np.where(sitting, smooth(d.lean_target, 11) + wobble, 0.0).astype(np.float32)
    shift = np.where(sitting, d.shift_side, 0).astype(np.int8)
    n = full if wear_s is None else min(full, int(round(wear_s)))
    return DayStates(
        start_utc=float(start_utc),
        posture=d.posture[:n],
        lean_deg=lean[:n],
        crossed=np.where(sitting, d.crossed, 0).astype(np.int8)[:n],
        shift_side=shift[:n],
        fidget=(d.fidget & sitting)[:n],
        object_id=np.where(sitting, -1, d.object_id)[:n],
        step_hz=d.step_hz[:n],
        step_g=d.step_g[:n],
        lying_roll_deg=d.lying_roll[:n],
    )
