"""What the analysis tells the other stages: bouts, typed events and the live state (the ground
floor). Events are dataclasses, one per kind (``kind``: the name docs/metrics.md §6 and the logs
use); JSON only where they leave the process."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from sitload.timestamps import iso_utc
from sitload.vocab import BoutEnd, Posture, Side


@dataclass(frozen=True)
class Bout:
    """One sitting bout [start, end) in UTC epoch seconds, with its asymmetry summary.

    Asymmetry fields that the sensor cannot measure are None (e.g. ``si_mean`` for an IMU,
    ``crossed_s`` for a hip IMU; sitload.analytics.coverage).
    """

    start: float
    end: float
    duration_s: float
    sitting_s: float                 # seconds classified sitting inside the bout
    sit_to_stand: int                # stand-ups inside the bout plus the one that ends it
    lean_side: str                   # Side wire name (see docs/metrics.md)
    lean_deg_mean: float | None
    crossed_s: float | None
    crossed_side: str | None
    fair_s: float | None             # thigh IMU: sensor leg on top (flexion+adduction+IR)
    si_mean: float | None
    cop_x_mean: float | None
    left_dose_ns: float | None
    right_dose_ns: float | None
    peak_left_kpa: float | None
    peak_right_kpa: float | None
    weight_shifts: int | None
    ended_by: BoutEnd

    def to_json(self) -> dict:
        out = asdict(self)
        out["start"], out["end"] = iso_utc(self.start), iso_utc(self.end)
        return out


@dataclass(frozen=True)
class PostureChanged:
    """The first second (``t``) of a posture other than the last one seen outside gaps."""

    kind: ClassVar[str] = "posture"
    t: float
    posture: Posture
    previous: Posture


@dataclass(frozen=True)
class DataGap:
    """Seconds without data [start, end), told at the first second with data again."""

    kind: ClassVar[str] = "gap"
    t: float
    start: float
    end: float


@dataclass(frozen=True)
class BoutStarted:
    """A sitting run became a bout (at ``start`` + ``min_sit_s``)."""

    kind: ClassVar[str] = "bout_start"
    t: float
    start: float


@dataclass(frozen=True)
class ProlongedSitting:
    """The open bout, begun at ``start``, reached ``minutes``."""

    kind: ClassVar[str] = "prolonged_sitting"
    t: float
    start: float
    minutes: float


@dataclass(frozen=True)
class BoutEnded:
    """A bout closed (``bout.ended_by`` says how): ``break_s`` after its last sitting second."""

    kind: ClassVar[str] = "bout_end"
    t: float
    bout: Bout


@dataclass(frozen=True)
class Leaning:
    """The same lean side held ``asym_sustain_s`` while sitting, since ``since``."""

    kind: ClassVar[str] = "asymmetry"
    t: float
    side: Side
    since: float
    si: float | None             # mat: gluteal symmetry index of the second (%)
    lean_deg: float | None       # IMU: lean angle of the second


@dataclass(frozen=True)
class LegsCrossed:
    """The same crossed side held ``crossed_sustain_s``, since ``since``."""

    kind: ClassVar[str] = "crossed_legs"
    t: float
    side: Side
    since: float


@dataclass(frozen=True)
class WeightShift:
    """A mat saw one buttock offloaded for ``shift_min_s``, since ``since``."""

    kind: ClassVar[str] = "weight_shift"
    t: float
    offloaded: Side
    since: float


Event = (PostureChanged | DataGap | BoutStarted | ProlongedSitting | BoutEnded | Leaning
         | LegsCrossed | WeightShift)


@dataclass(frozen=True)
class EngineState:
    """The latest decided second, for live display and the alert policy (``crossed`` None: the
    sensor cannot see crossed legs)."""

    t: float | None
    posture: Posture
    bout_start: float | None
    bout_minutes: float
    asymmetry_si: float | None
    lean_side: Side
    crossed: Side | None
