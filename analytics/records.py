"""Records the analysis hands out: bouts, events, engine state and the whole result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import pandas as pd

from analytics.accumulation import AccumulationMetrics

POSTURES = ("gap", "sitting", "standing", "moving", "lying", "off_seat", "unknown")
GAP, SITTING, STANDING, MOVING, LYING, OFF_SEAT, UNKNOWN = range(len(POSTURES))
SIDES = ("none", "left", "right")
SEATS = ("empty", "person", "object")
JSON_SCHEMA = "sitload.analysis/1"


def iso_utc(t: float) -> str:
    """ISO 8601 UTC string of an epoch time, e.g. '2026-03-02T08:00:00Z'."""
    stamp = datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True)
class Bout:
    """One sitting bout [start, end) in UTC epoch seconds, with its asymmetry summary.

    Asymmetry fields that the sensor cannot measure are None (e.g. ``si_mean`` for an IMU,
    ``crossed_s`` for a hip IMU; analytics.coverage).
    """

    start: float
    end: float
    duration_s: float
    sitting_s: float                 # seconds classified sitting inside the bout
    sit_to_stand: int                # stand-ups inside the bout plus the one that ends it
    lean_side: str                   # 'left' | 'right' | 'none' (see docs/metrics.md)
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
    ended_by: str                    # 'break' | 'gap' | 'end_of_data'

    def to_json(self) -> dict:
        out = asdict(self)
        out["start"], out["end"] = iso_utc(self.start), iso_utc(self.end)
        return out


@dataclass(frozen=True)
class Event:
    """Something the engine noticed at UTC time ``t`` (kinds listed in docs/metrics.md)."""

    kind: str
    t: float
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EngineState:
    """The latest classified second, for live display and the alert policy (``crossed`` None:
    the sensor cannot see crossed legs)."""

    t: float | None
    posture: str
    bout_start: float | None
    bout_minutes: float
    asymmetry_si: float | None
    lean_side: str
    crossed: str | None


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one analysis run found. ``epochs`` has one row per second (gaps included)."""

    kind: str
    epochs: pd.DataFrame
    bouts: list[Bout]
    sitting_s: float
    metrics: AccumulationMetrics
    gaps: list[tuple[float, float]]
    breaks: int
    sit_to_stand: int

    @property
    def breaks_per_sitting_hour(self) -> float | None:
        hours = self.metrics.total_s / 3600.0
        return self.breaks / hours if hours > 0 else None

    def to_json(self) -> dict:
        """JSON-ready summary; the schema is in docs/metrics.md."""
        m = self.metrics
        return {
            "schema": JSON_SCHEMA,
            "sensor": self.kind,
            "start": iso_utc(float(self.epochs["t"].iloc[0])) if len(self.epochs) else None,
            "end": iso_utc(float(self.epochs["t"].iloc[-1]) + 1.0) if len(self.epochs) else None,
            "sitting_s": self.sitting_s,
            "bouts": [b.to_json() for b in self.bouts],
            "prolonged_bouts_30": m.bouts_30,
            "prolonged_bouts_60": m.bouts_60,
            "breaks": self.breaks,
            "breaks_per_sitting_hour": self.breaks_per_sitting_hour,
            "sit_to_stand": self.sit_to_stand,
            "w50_s": m.w50_s,
            "alpha": m.alpha,
            "gini": m.gini,
            "accumulation": m.to_json(),
            "gaps": [{"start": iso_utc(a), "end": iso_utc(b), "duration_s": b - a}
                     for a, b in self.gaps],
        }

