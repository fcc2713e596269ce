"""What a reader of a foreign file is told besides the file: the time zone of its wall-clock times,
the start of a recording whose times count from it, and whether to skip bad rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitload.errors import UsageError
from sitload.services.importers import parse_times


@dataclass(frozen=True)
class ReadOptions:
    tz: str = "UTC"
    start: str | None = None  # ISO 8601; without an offset, a wall-clock time in ``tz``
    skip_bad: bool = False

    def start_s(self, why: str) -> float:
        """``start`` as UTC epoch seconds; a UsageError saying ``why`` it is needed when it is
        missing, and one naming the value when it is not a time."""
        if self.start is None:
            raise UsageError(f"{why}: give the recording's start with --start "
                             "(e.g. --start 2026-03-02T08:00:00, in --tz)")
        seconds = parse_times(pd.Series([self.start]), self.tz)[0]
        if not np.isfinite(seconds) or abs(seconds) < 1e8:
            raise UsageError(f"--start {self.start!r} is not an ISO 8601 time "
                             f"(e.g. 2026-03-02T08:00:00) that exists in {self.tz}")
        return float(seconds)
