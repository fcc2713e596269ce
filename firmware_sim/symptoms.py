"""Simulated pain diary: reports drawn from a hidden, documented dose-response on the body states.

The model only reads the ground truth (``posture``, ``lean_side`` per second), so every sensor
simulated for one (scenario, seed) gets the same diary. Per wear day (seeded from (scenario, seed,
day)):

- **Unbroken sitting**: sitting runs joined across less than ``BREAK_S`` (60 s) of anything else,
  the bout rule of the analytics (docs/metrics.md).
- **Flares** (only with a ``tolerance_min``): once a bout reaches its tolerance
  ``tolerance_min + N(0, tolerance_sd_min)``, a flare starts after an exponential wait with mean
  ``left_onset_min`` when the left buttock was loaded for at least ``left_loaded_min`` of the bout
  so far, else with mean ``other_onset_min`` (so flares come soon after the tolerance, mostly with
  the left side loaded), if the bout lasts that long. The person reports it ``report_delay_min``
  after the onset: pain ``baseline + flare_rise``, left buttock, sometimes tingling. The pain stays
  at that level until ``flare_hold_min`` after the bout ends.
- **Truth in the diary's terms**: ``tolerance_min`` is where the risk starts, not what a diary can
  show. ``simulated_flares`` records, for every flare, the unbroken sitting from the start of its
  bout to its report (onset wait and report delay included); the median of that over many seeds
  is the tolerance the flare analysis estimates (docs/flares.md section 7).
- **Check-ins** every ``checkin_every_min`` (jittered) and **spontaneous** reports (Poisson,
  ``spontaneous_per_day``, uniform in the day): pain ``baseline`` +- 1, or the raised pain while a
  flare lasts; with ``random_flare_share`` a report is a flare whatever the body did (the
  no-dose-response model is all chance: no tolerance, a third of the reports flares).

``SYMPTOM_MODELS`` maps scenario names to their model; other scenarios have no diary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitload.firmware_sim.body_model import plan_day
from sitload.firmware_sim.scenarios import SCENARIOS
from sitload.firmware_sim.seeding import rng_for

BREAK_S = 60.0
DAY_S = 86400.0


@dataclass(frozen=True)
class SymptomModel:
    """The hidden pain model of a scenario (minutes unless the name says otherwise)."""

    tolerance_min: float | None
    tolerance_sd_min: float = 2.0
    left_loaded_min: float = 5.0
    left_onset_min: float = 1.0
    other_onset_min: float = 240.0
    report_delay_min: tuple[float, float] = (0.0, 2.0)
    baseline: int = 2
    flare_rise: tuple[int, int] = (3, 5)
    flare_hold_min: tuple[float, float] = (30.0, 60.0)
    checkin_every_min: float = 120.0
    checkin_jitter_min: float = 20.0
    spontaneous_per_day: float = 1.0
    random_flare_share: float = 0.0


@dataclass(frozen=True)
class SymptomEntry:
    """One simulated diary entry (fields as in the recording's diary table)."""

    t: float
    pain: int
    location: str | None
    side: str | None
    tingling: bool | None
    note: str


SYMPTOM_MODELS: dict[str, SymptomModel] = {
    "flare-fortnight": SymptomModel(tolerance_min=40.0),
    "no-dose-response": SymptomModel(tolerance_min=None, random_flare_share=1 / 3),
}


def unbroken_bouts(t: np.ndarray, sitting: np.ndarray) -> np.ndarray:
    """(n, 2) array of [start, end) UTC times of unbroken sitting (runs joined across < BREAK_S)."""
    s = np.concatenate(([False], np.asarray(sitting, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(s.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if starts.size == 0:
        return np.zeros((0, 2))
    t = np.asarray(t, dtype=np.float64)
    t_start, t_end = t[starts], t[ends - 1] + 1.0
    keep = np.concatenate(([True], t_start[1:] - t_end[:-1] >= BREAK_S))
    return np.column_stack((t_start[keep], np.maximum.reduceat(t_end, np.flatnonzero(keep))))


def body_truth(scenario: str, seed: int, days: int, start_utc: float) -> pd.DataFrame:
    """The per-second ground truth of ``days`` whole wear days, without simulating any signal."""
    sc = SCENARIOS[scenario]
    parts = []
    for day in range(days):
        states = plan_day(sc, seed, day, start_utc + day * DAY_S)
        parts.append(states.truth(0, len(states)))
    return pd.concat(parts, ignore_index=True)


def simulated_diary(scenario: str, seed: int, truth: pd.DataFrame) -> list[SymptomEntry]:
    """Diary entries of a simulated person (empty for a scenario without a symptom model)."""
    return _simulate(scenario, seed, truth)[0]


def simulated_flares(scenario: str, seed: int, truth: pd.DataFrame) -> pd.DataFrame:
    """The simulator's record of the flares it put in the diary, sorted by report time ``t``:
    ``sitting_min``, the unbroken sitting from the start of the flare's bout to the report (to the
    bout's end when the report comes after it)."""
    return pd.DataFrame(_simulate(scenario, seed, truth)[1], columns=["t", "sitting_min"])


def _simulate(scenario: str, seed: int,
              truth: pd.DataFrame) -> tuple[list[SymptomEntry], list[tuple[float, float]]]:
    """Diary entries and (report time, sitting in minutes) of each flare, both sorted by time."""
    model = SYMPTOM_MODELS.get(scenario)
    if model is None or truth.empty:
        return [], []
    t = truth["t"].to_numpy(dtype=np.float64)
    sitting = (truth["posture"] == "sitting").to_numpy()
    left = (truth["lean_side"] == "left").to_numpy()
    cuts = np.flatnonzero(np.diff(t) > BREAK_S) + 1
    entries: list[SymptomEntry] = []
    flares: list[tuple[float, float]] = []
    for a, b in zip([0, *cuts], [*cuts, len(t)]):
        day = int(round((t[a] - t[0]) / DAY_S))
        day_entries, day_flares = _day_entries(model, rng_for("symptoms", scenario, seed, day),
                                               t[a:b], sitting[a:b], left[a:b])
        entries += day_entries
        flares += day_flares
    return sorted(entries, key=lambda e: e.t), sorted(flares)


def _day_entries(m: SymptomModel, rng: np.random.Generator, t: np.ndarray, sitting: np.ndarray,
                 left: np.ndarray) -> tuple[list[SymptomEntry], list[tuple[float, float]]]:
    day_start, day_end = t[0], t[-1] + 1.0
    left_cum = np.concatenate(([0.0], np.cumsum(left & sitting)))
    out: list[SymptomEntry] = []
    flares: list[tuple[float, float]] = []
    raised: list[tuple[float, float, int]] = []     # (from, until, pain) while a flare lasts
    for start, end in unbroken_bouts(t, sitting):
        if m.tolerance_min is None:
            break
        reached = start + 60.0 * (m.tolerance_min + rng.normal(0.0, m.tolerance_sd_min))
        i0, i1 = np.searchsorted(t, [start, reached])
        left_min = (left_cum[i1] - left_cum[i0]) / 60.0
        wait = m.left_onset_min if left_min >= m.left_loaded_min else m.other_onset_min
        onset = reached + 60.0 * rng.exponential(wait)
        if onset >= end:
            continue
        at = onset + 60.0 * rng.uniform(*m.report_delay_min)
        if at >= day_end:
            continue
        pain = m.baseline + int(rng.integers(m.flare_rise[0], m.flare_rise[1] + 1))
        out.append(SymptomEntry(at, pain, "buttock", "left", bool(rng.random() < 0.5),
                                "flare (simulated)"))
        flares.append((at, (min(at, end) - start) / 60.0))
        raised.append((at, max(at, end) + 60.0 * rng.uniform(*m.flare_hold_min), pain))
    times = []
    at = day_start + 60.0 * (m.checkin_every_min + rng.uniform(-1, 1) * m.checkin_jitter_min)
    while at < day_end:
        times.append((at, "check-in (simulated)"))
        at += 60.0 * (m.checkin_every_min + rng.uniform(-1, 1) * m.checkin_jitter_min)
    for at in rng.uniform(day_start, day_end, rng.poisson(m.spontaneous_per_day)):
        times.append((float(at), "report (simulated)"))
    for at, note in times:
        pain = next((p for a, b, p in raised if a <= at < b), None)
        if pain is None and rng.random() < m.random_flare_share:
            pain = m.baseline + int(rng.integers(m.flare_rise[0], m.flare_rise[1] + 1))
        if pain is None:
            pain = int(np.clip(m.baseline + rng.integers(-1, 2), 0, 10))
            out.append(SymptomEntry(float(at), pain, "buttock", "none", False, note))
        else:
            out.append(SymptomEntry(float(at), pain, "buttock", "left", bool(rng.random() < 0.5),
                                    note))
    return out, flares
