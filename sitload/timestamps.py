"""UTC epoch seconds to and from ISO 8601, as files and messages write them (the ground floor)."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_utc(t: float, timespec: str = "seconds") -> str:
    """ISO 8601 UTC with a Z, e.g. '2026-03-02T08:00:00Z' (``timespec`` as datetime.isoformat:
    'milliseconds' for MQTT payloads)."""
    stamp = datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec=timespec)
    return stamp.replace("+00:00", "Z")


def from_iso(text: str) -> float:
    """ISO 8601 (with Z or an offset) to UTC epoch seconds; ValueError without a time zone."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return dt.timestamp()


EARLIEST, LATEST = 0.0, 4102444800.0      # 1970-01-01 and 2100-01-01 UTC
PLAUSIBLE_RANGE = "from 1970 to before 2100"   # the words of every refusal of ``plausible``


def plausible(t):
    """Whether a time (or each of an array of them) can be a sitload time: from 1970 (relative
    times of foreign files start there) to before 2100; a diary date of 9999, a clock gone wild
    or NaN is not."""
    return (t >= EARLIEST) & (t < LATEST)
