"""The whole result of one analysis (bouts, events and the live state: sitload.events)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sitload.analytics.accumulation import AccumulationMetrics
from sitload.events import Bout
from sitload.timestamps import iso_utc

JSON_SCHEMA = "sitload.analysis/1"


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
            **{f"prolonged_{p.name}": p.count for p in m.prolonged},
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

