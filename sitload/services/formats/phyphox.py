"""phyphox "Acceleration with g" CSV exports (docs/import-formats.md).

A zip holds one CSV per export set (``Raw Data.csv``: "Time (s)","Acceleration x (m/s^2)", ...
y, z, "Absolute acceleration (m/s^2)") and ``meta/time.csv``, whose START rows give each run's
experiment time and system time (Unix seconds); the separator and decimal mark are the ones the
user chose (comma/point, tab/point, semicolon/comma ...). A single CSV has times from the start
only, so it needs --start. The "Linear Acceleration" export, without g, is refused."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sitload.errors import ImportDataError
from sitload.services.formats.options import ReadOptions
from sitload.services.formats.text import Text, is_zip, load, load_member, separator, \
    zip_members
from sitload.services.importers import CsvData, G, checked_samples, numbers

AXIS = re.compile(r"\b([xyz]) \(m/s\^?2\)")
SECONDS = re.compile(r"\(s\)$")  # the time column: "Time (s)", translated "Zeit (s)" ...
TIME_CSV = "meta/time.csv"


def axes_of(names: list[str]) -> dict[str, int]:
    """The column of each acceleration axis (x, y, z) the header names."""
    return {m.group(1): i for i, n in enumerate(names) if (m := AXIS.search(n))}


def _starts(text: Text) -> tuple[np.ndarray, np.ndarray]:
    """Experiment time and system time (UTC epoch s) of each START in meta/time.csv."""
    names = text.names()
    if not {"event", "experiment time", "system time"} <= set(names):
        raise ImportDataError(f"{text.where} line 1: header lacks event, experiment time or "
                              "system time")
    rows, _ = text.table(1, separator(text.lines(1)[0]))
    start = (rows[names.index("event")].str.strip().str.strip('"').str.upper() == "START")
    cols = [names.index("experiment time"), names.index("system time")]
    values = numbers(rows.loc[start, cols])
    if not start.any() or not np.isfinite(values).all():
        raise ImportDataError(f"{text.where}: no START with an experiment and a system time")
    order = np.argsort(values[:, 0], kind="stable")
    return values[order, 0], values[order, 1]


def read(path: Path, options: ReadOptions) -> CsvData:
    starts = None
    if is_zip(path):
        members = zip_members(path)
        texts = (load_member(path, m) for k, m in sorted(members.items())
                 if k.endswith(".csv") and not k.startswith("meta/"))
        text = next((t for t in texts if axes_of(t.names())), None)
        if text is None:
            raise ImportDataError(f"{path}: no CSV with acceleration x, y, z (m/s^2) in the zip")
        if TIME_CSV in members:
            starts = _starts(load_member(path, members[TIME_CSV]))
    else:
        text = load(path)
    names = text.names()
    axes = axes_of(names)
    if any("linear" in n for n in names):
        raise ImportDataError(f"{text.where} line 1: a Linear Acceleration export, without g "
                              "(posture needs gravity): record with \"Acceleration with g\"")
    if sorted(axes) != ["x", "y", "z"] or not SECONDS.search(names[0]):
        raise ImportDataError(f"{text.where} line 1: header lacks the time and acceleration x, y, "
                              f"z (m/s^2) of phyphox (found {', '.join(names)[:100]})")
    rows, line = text.table(1, separator(text.lines(1)[0]))
    since_start = numbers(rows[[0]])[:, 0]
    if starts is None:
        starts = (np.zeros(1), np.full(1, options.start_s(
            f"{text.where}: times count from the start and no meta/time.csv gives it")))
    run = np.clip(np.searchsorted(starts[0], since_start, side="right") - 1, 0, None)
    t = starts[1][run] + since_start - starts[0][run]
    return checked_samples(text.where, t, numbers(rows[[axes[a] for a in "xyz"]]), line,
                           rows[0], tz=options.tz, skip_bad=options.skip_bad, accel_factor=1 / G,
                           time_need="seconds since the start",
                           gravity_hint="phyphox's \"Acceleration with g\" includes gravity; "
                           "a Linear Acceleration export does not")
