"""`sitting_today_min` of the state payload: sitting bouts summed per local day of the wearer."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sitload.alerts.sitting_today import SittingToday
from sitload.events import EngineState
from sitload.vocab import Posture, Side
from sitload.errors import ConfigError

BERLIN = ZoneInfo("Europe/Berlin")


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def _states(start: float, end: float, posture: str, bout_start: float | None = None):
    """An engine state every 5 s from ``start`` to ``end`` (inclusive)."""
    t = start
    while t <= end:
        minutes = (t - bout_start) / 60.0 if posture == "sitting" else 0.0
        yield EngineState(t=t, posture=Posture.from_wire(posture),
                          bout_start=bout_start if posture == "sitting" else None,
                          bout_minutes=minutes, asymmetry_si=None, lean_side=Side.NONE,
                          crossed=Side.NONE)
        t += 5.0


def test_bouts_add_up_within_a_day_and_split_at_local_midnight():
    today = SittingToday("Europe/Berlin")
    a = _at("2026-03-02T21:00:00")
    for s in _states(a, a + 1200, "sitting", bout_start=a):  # 20 min
        got = today.update(s)
    assert got == 20.0
    for s in _states(a + 1205, a + 1800, "standing"):
        got = today.update(s)
    assert got == 20.0  # a closed bout stays counted
    b = _at("2026-03-02T23:50:00")  # 10 min before midnight, 25 min after it
    for s in _states(b, b + 595, "sitting", bout_start=b):
        got = today.update(s)
    assert got == pytest.approx(20.0 + 595 / 60, abs=0.01)
    for s in _states(b + 600, b + 2100, "sitting", bout_start=b):
        got = today.update(s)
    assert got == 25.0  # a new local day counts only its own part of the bout
    got = today.update(next(_states(b + 2105, b + 2105, "standing")))
    assert got == 25.0


def test_no_time_gives_none_and_a_bad_zone_is_a_config_error():
    state = EngineState(t=None, posture=Posture.UNKNOWN, bout_start=None, bout_minutes=0.0,
                        asymmetry_si=None, lean_side=Side.NONE, crossed=Side.NONE)
    assert SittingToday("UTC").update(state) is None
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        SittingToday("Mars/Olympus")


def test_a_pause_inside_a_bout_is_not_counted_twice():
    today = SittingToday("UTC")
    a = 1772438400.0
    for s in _states(a, a + 600, "sitting", bout_start=a):
        today.update(s)
    today.update(next(_states(a + 605, a + 605, "standing")))  # a shift the engine keeps inside the bout
    for s in _states(a + 610, a + 900, "sitting", bout_start=a):
        got = today.update(s)
    assert got == 15.0
