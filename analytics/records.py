"""The whole result of one analysis (bouts, events and the live state: sitload.events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sitload.analytics.accumulation import AccumulationMetrics
from sitload.analytics.epochs import Columns, with_gap_rows
from sitload.events import Bout
from sitload.timestamps import iso_utc
from sitload.vocab import Posture, Seat, Side

if TYPE_CHECKING:
    import pandas as pd

JSON_SCHEMA = "sitload.analysis/1"
LABELS = {"posture": Posture.wire_names(), "lean_side": Side.wire_names(),
          "crossed": Side.wire_names(), "seat": Seat.wire_names(), "offload": Side.wire_names()}


class EpochColumns:
    """The per-second table as the engine keeps it: numpy columns (``sec`` and label codes) of
    the seconds with samples. ``cols`` adds a GAP row for every second without; ``frame()``
    makes the pandas table of those (labels as text). A summary needs neither, so
    `sitload analyze --json` does not import pandas."""

    def __init__(self, with_data: Columns | None):
        self.with_data = with_data

    @cached_property
    def cols(self) -> Columns | None:
        """Every second from the first to the last (filled in once, when first asked for)."""
        data = self.with_data
        return None if data is None else with_gap_rows(data, int(data["sec"][0]))

    @property
    def span(self) -> tuple[float, float] | None:
        """The first and the last second (None without rows)."""
        data = self.with_data
        return None if data is None else (float(data["sec"][0]), float(data["sec"][-1]))

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        if self.cols is None:
            return pd.DataFrame({"t": np.zeros(0), "posture": np.zeros(0, dtype=object)})
        frame = {"t": self.cols["sec"].astype(np.float64)}
        for key, values in self.cols.items():
            if key != "sec":
                frame[key] = _labels(values, LABELS[key]) if key in LABELS else values
        return pd.DataFrame(frame, copy=False)


def _labels(codes: np.ndarray, names: list[str]):
    """Label codes as the text column pandas would make of the names, built in Arrow from the
    codes when pandas stores text there (no Python object a row: a week is 600,000 rows)."""
    import pandas as pd
    import pyarrow as pa

    text = pd.Series(np.array(names[:1], dtype=object)).dtype    # Arrow-backed (pandas 3) or object
    if getattr(text, "storage", None) != "pyarrow":
        return np.asarray(names, dtype=object)[codes]
    words = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                           pa.array(names, pa.large_string()))
    return pd.array(words.cast(pa.large_string()), dtype=text)


def label_codes(labels, names: Sequence[str]) -> np.ndarray:
    """Text labels (an array, or a pandas column) as codes: each one's place in ``names``, 0 for
    one not there (the inverse of ``_labels``)."""
    codes = np.zeros(len(labels), dtype=np.int8)
    for code, name in enumerate(names):    # compared where the text is (Arrow), not row by row
        codes[np.asarray(labels == name, dtype=bool)] = code
    return codes


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one analysis run found. ``epochs`` has one row per second (gaps included),
    made when first asked for from ``per_second`` (a table, or the engine's columns)."""

    kind: str
    per_second: pd.DataFrame | EpochColumns
    bouts: list[Bout]
    sitting_s: float
    metrics: AccumulationMetrics
    gaps: list[tuple[float, float]]
    breaks: int
    sit_to_stand: int

    @cached_property
    def epochs(self) -> pd.DataFrame:
        table = self.per_second
        return table.frame() if isinstance(table, EpochColumns) else table

    @cached_property
    def seconds_with_data(self) -> Columns:
        """The seconds with samples as numpy columns: ``sec`` and the labels as codes
        (``LABELS``), without making the pandas table of the engine's columns (taken once)."""
        table = self.per_second
        if isinstance(table, EpochColumns):
            return table.with_data if table.with_data is not None else {
                "sec": np.zeros(0, dtype=np.int64), "posture": np.zeros(0, dtype=np.int8)}
        table = table[table["posture"] != Posture.GAP.wire]
        cols = {"sec": table["t"].to_numpy(dtype=np.int64)}
        for key in table.columns.drop("t"):
            cols[key] = label_codes(table[key], LABELS[key]) if key in LABELS \
                else table[key].to_numpy()
        return cols

    @property
    def span(self) -> tuple[float, float] | None:
        """The first and the last second of the epochs (None without any)."""
        if isinstance(self.per_second, EpochColumns):
            return self.per_second.span
        t = self.epochs["t"]
        return (float(t.iloc[0]), float(t.iloc[-1])) if len(t) else None

    @property
    def breaks_per_sitting_hour(self) -> float | None:
        hours = self.metrics.total_s / 3600.0
        return self.breaks / hours if hours > 0 else None

    def to_json(self) -> dict:
        """JSON-ready summary; the schema is in docs/metrics.md."""
        m = self.metrics
        span = self.span
        return {
            "schema": JSON_SCHEMA,
            "sensor": self.kind,
            "start": iso_utc(span[0]) if span else None,
            "end": iso_utc(span[1] + 1.0) if span else None,
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

