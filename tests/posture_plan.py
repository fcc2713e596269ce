"""A known thigh posture sequence for import tests: its signal, the sits it must give, and the
wall-clock times a device in Europe/Berlin writes for it."""

import numpy as np
import pandas as pd

T0 = 1_772_438_400.0  # 2026-03-02T08:00:00Z: 09:00 in Europe/Berlin
PLAN = (("walk", 30), ("sit", 300), ("walk", 30), ("stand", 60), ("sit", 180), ("walk", 30))
BOUTS = [(T0 + 30, 300.0), (T0 + 420, 180.0)]  # (start, seconds) of the two sits
BERLIN = ("--tz", "Europe/Berlin")


def thigh(rate: float = 30.0):
    """Times (UTC epoch s) and a thigh accelerometer in g following PLAN: the thigh vertical
    while walking (swinging) and standing, flat while sitting."""
    kinds = np.concatenate([[kind] * int(seconds * rate) for kind, seconds in PLAN])
    s = np.arange(kinds.size) / rate
    accel = np.tile([1.0, 0.0, 0.0], (kinds.size, 1))
    accel[kinds == "sit"] = [0.0, 0.0, 1.0]
    walk = kinds == "walk"
    accel[walk, 0] += 0.35 * np.sin(2 * np.pi * 1.9 * s[walk])
    accel[walk, 2] += 0.15 * np.sin(2 * np.pi * 0.95 * s[walk])
    return T0 + s, accel + np.random.default_rng(0).normal(0, 0.005, accel.shape)


def berlin(t, fmt: str) -> list[str]:
    """Wall-clock times in Europe/Berlin, formatted with strftime ``fmt`` (%f: milliseconds)."""
    local = pd.to_datetime(t, unit="s", utc=True).tz_convert("Europe/Berlin").tz_localize(None)
    return [s[:-3] if fmt.endswith("%f") else s for s in local.strftime(fmt)]


def excel_days(t) -> np.ndarray:
    """Europe/Berlin wall-clock times as Excel day numbers (days since 1899-12-30)."""
    local = pd.to_datetime(t, unit="s", utc=True).tz_convert("Europe/Berlin").tz_localize(None)
    return ((local - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)).to_numpy()
