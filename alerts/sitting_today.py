"""Minutes of sitting on the wearer's local calendar day, from the engine's successive states."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitload.events import EngineState
from sitload.vocab import Posture
from sitload.errors import ConfigError


class SittingToday:
    """Adds up the sitting bouts the engine reports (start to latest end, short pauses inside a bout
    included, as in the bout durations) over the local day; a bout over midnight is split.

    ``timezone`` is an IANA name; None uses this machine's local time zone.
    """

    def __init__(self, timezone: str | None = None) -> None:
        try:
            self._tz = ZoneInfo(timezone) if timezone else None
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {timezone!r}") from exc
        self._bouts: dict[float, float] = {}  # bout start -> latest end seen

    def update(self, state: EngineState) -> float | None:
        """Fold in the latest state; minutes sat on the local day of ``state.t`` (None without a time)."""
        if state.t is None:
            return None
        if state.posture == Posture.SITTING and state.bout_start is not None:
            end = max(state.t, state.bout_start + 60.0 * state.bout_minutes)
            self._bouts[state.bout_start] = max(end, self._bouts.get(state.bout_start, end))
        day = self._day(state.t)
        lo, hi = self._midnight(day), self._midnight(day + timedelta(days=1))
        self._bouts = {start: end for start, end in self._bouts.items() if end > lo}
        total, reach = 0.0, lo
        for start, end in sorted(self._bouts.items()):  # the union: overlapping bouts count once
            a, b = max(start, reach), min(end, hi)
            if b > a:
                total += b - a
                reach = b
        return round(total / 60.0, 2)

    def _day(self, t: float) -> date:
        return datetime.fromtimestamp(t, self._tz).date()

    def _midnight(self, day: date) -> float:
        # a naive datetime's timestamp() is read in the local time zone, as wanted when _tz is None
        return datetime.combine(day, time(), tzinfo=self._tz).timestamp()
