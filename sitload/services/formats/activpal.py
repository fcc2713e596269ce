"""activPAL events CSV (PAL software: ``*Events.csv`` and ``*EventsEx.csv``) as reference labels
(docs/import-formats.md).

Columns ``Time`` (Excel day number: days since 1899-12-30, the device's local time), the
event's length (``Interval (s)``, or ``Duration (s)`` in the extended file) and its code
(``ActivityCode (0=sedentary 1=standing 2=stepping)``, or ``Event Type``). Codes: 0 sedentary,
1 standing, 2 stepping, 2.1 cycling, 3.1 / 3.2 primary / secondary lying, 4 non-wear, 5 seated
transport. Some exports begin with a ``sep=;`` line, or write the time between ``#``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sitload.errors import ImportDataError
from sitload.services.formats.text import Text, load, separator
from sitload.services.importers import ReferenceLabels, local_seconds, numbers, time_order, \
    whole_seconds

EXCEL_ORIGIN = pd.Timestamp("1899-12-30")
SITTING = {0.0: 1, 5.0: 1}      # sedentary; seated transport
NOT_SITTING = {1.0: 0, 2.0: 0, 2.1: 0, 3.1: 0, 3.2: 0}  # standing, stepping, cycling, lying
UNSCORED = {4.0: -1}            # non-wear
CODES = {**SITTING, **NOT_SITTING, **UNSCORED}
COLUMNS = {"time": ("time",), "length": ("interval", "duration"),
           "code": ("activitycode", "activity code", "event type")}


def _column(names: list[str], what: str, where: Path, line: int) -> int:
    found = [i for i, n in enumerate(names) if n.startswith(COLUMNS[what])
             and "approx" not in n]
    if not found:
        raise ImportDataError(f"{where} line {line}: header lacks the event's {what} "
                              f"({' or '.join(COLUMNS[what])}...; found {', '.join(names)[:100]})")
    return found[0]


def header_line(text: Text) -> int:
    """The 0-based line of the column names: 1 after a ``sep=;`` line, else 0."""
    head = text.lines(1)
    return 1 if head and head[0].strip().strip('"').lower().startswith("sep=") else 0


def is_events(text: Text) -> bool:
    """Whether the header names an activPAL event code column."""
    lines = text.lines(header_line(text) + 1)
    names = Text(text.where, lines[-1]).names() if lines else []
    return any(n.startswith(COLUMNS["code"]) for n in names)


def read_events(path: str | Path, *, tz: str = "UTC") -> ReferenceLabels:
    """Per-second labels of an events file: sedentary (0) and seated transport (5) are sitting,
    standing, stepping, cycling and lying not; non-wear is not scored. Each event holds for
    its interval; times are local in ``tz``."""
    path = Path(path)
    text = load(path)
    skip = header_line(text)
    head = text.lines(skip + 1)
    if len(head) <= skip:
        raise ImportDataError(f"{path}: no header line")
    header = Text(path, head[skip]).names()
    where = {w: _column(header, w, path, skip + 1) for w in COLUMNS}
    rows, line = text.table(skip + 1, separator(head[skip]))
    times = rows[where["time"]].str.strip().str.strip("#")
    days, length, code = numbers(pd.concat([times, rows[where["length"]],
                                            rows[where["code"]]], axis=1)).T
    naive = EXCEL_ORIGIN + pd.to_timedelta(days, unit="D").round("ms")  # drop float error
    start = local_seconds(pd.Series(naive), tz).to_numpy(dtype=np.float64, na_value=np.nan)
    known = np.isin(np.round(code, 1), list(CODES))
    bad = ~np.isfinite(start) | ~(length >= 0) | ~known
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = ("time (need an Excel day number)" if not np.isfinite(start[i]) else
                "interval (need seconds >= 0)" if not length[i] >= 0 else
                f"activity code (need one of {', '.join(f'{c:g}' for c in CODES)})")
        raise ImportDataError(f"{path} line {line[i]}: bad {what}: "
                              f"{', '.join(rows.iloc[i].str.strip())[:80]!r}")
    order = time_order(start, line, path)
    start, length, code = start[order], length[order], np.round(code[order], 1)
    label = np.array([CODES[c] for c in code])
    return whole_seconds(start, start + length, code.astype(str), label)
