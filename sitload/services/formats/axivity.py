"""Axivity AX3 / AX6 CSV as OMGUI's raw export or cwa-convert writes it (docs/import-formats.md).

No header line: time, x, y, z in g (an AX6 with its gyroscope adds gx, gy, gz; light,
temperature and battery may follow: all read as extra columns, ignored). The time is formatted
(``2014-05-07 10:00:00.000``), Unix seconds, Excel days (since 1899-12-30) or Matlab days: all
of them the device's clock, which is the configuring computer's local time (so --tz applies to
each), or seconds from the start of the recording (which then needs --start)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from sitload.errors import ImportDataError
from sitload.services.formats.options import ReadOptions
from sitload.services.formats.text import load, separator
from sitload.services.importers import CsvData, checked_samples, local_seconds, numbers

FORMATTED = re.compile(r"\s*\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
EXCEL_DAYS, MATLAB_DAYS, UNIX_S = (2e4, 1e5), (6e5, 8e5), 1e8
EXCEL_ORIGIN = pd.Timestamp("1899-12-30")
MATLAB_1970 = 719529.0  # Matlab's datenum of 1970-01-01
NEED = "YYYY-MM-DD hh:mm:ss.fff, Unix seconds, Excel or Matlab days, or seconds from --start"


def wall_clock(column: pd.Series, options: ReadOptions) -> np.ndarray:
    """UTC epoch seconds of the time column (NaN where one does not parse)."""
    text = column.str.strip()
    if text.str.match(FORMATTED).mean() > 0.5:
        naive = pd.to_datetime(text, format="ISO8601", errors="coerce")
    else:
        value = numbers(text.to_frame())[:, 0]
        median = np.nanmedian(value) if np.isfinite(value).any() else np.nan
        if EXCEL_DAYS[0] <= median < EXCEL_DAYS[1]:
            naive = EXCEL_ORIGIN + pd.to_timedelta(value, unit="D")
        elif MATLAB_DAYS[0] <= median < MATLAB_DAYS[1]:
            naive = pd.Timestamp(0) + pd.to_timedelta(value - MATLAB_1970, unit="D")
        elif median >= UNIX_S:
            naive = pd.Timestamp(0) + pd.to_timedelta(value, unit="s")
        elif np.isfinite(median):
            return options.start_s("the times are seconds from the start of the recording") \
                + value
        else:
            return value
    local = local_seconds(pd.Series(naive, index=column.index), options.tz)
    return local.to_numpy(dtype=np.float64, na_value=np.nan)


def read(path: Path, options: ReadOptions) -> CsvData:
    text = load(path)
    first = text.lines(1)
    if not first:
        raise ImportDataError(f"{path}: empty file")
    rows, line = text.table(0, separator(first[0]))
    if rows.shape[1] < 4:
        raise ImportDataError(f"{path} line {line[0]}: {rows.shape[1]} columns where an Axivity "
                              "export has time, x, y, z")
    if re.search(r"[a-zA-Z]{3}", rows.iloc[0, 0]) and not FORMATTED.match(rows.iloc[0, 0]):
        rows, line = rows.iloc[1:].reset_index(drop=True), line[1:]  # a header line
    t = wall_clock(rows[0], options)
    return checked_samples(path, t, numbers(rows[[1, 2, 3]]), line, rows[0], tz=options.tz,
                           skip_bad=options.skip_bad, time_need=NEED,
                           gravity_hint="an Axivity export is in g with gravity: "
                           "export in g, not raw ADC units")
