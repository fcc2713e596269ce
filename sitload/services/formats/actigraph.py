"""ActiGraph raw CSV as ActiLife writes it (docs/import-formats.md).

Ten header lines, the first naming the date format and the rate ("... ActiLife v6.13.3 Firmware
v3.2.1 date format M/d/yyyy at 30 Hz ..."), then "Start Time", "Start Date", "Epoch Period
(hh:mm:ss)" (00:00:00 in a raw file) among them; then, optionally, a line of column names
(``Accelerometer X,Accelerometer Y,Accelerometer Z``, with ``Timestamp`` first when exported with
timestamps; a GT9X's IMU file adds ``Gyroscope X,Y,Z`` in deg/s) and the samples in g. Times are the device's wall clock, without a zone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from sitload.errors import ImportDataError
from sitload.services.formats.options import ReadOptions
from sitload.services.formats.text import cells, load, separator
from sitload.services.importers import CsvData, checked_samples, local_seconds, numbers

HEADER_LINES = 10
BANNER = re.compile(r"data file created by actigraph", re.I)
DATE_FORMAT = re.compile(r"date format\s+([dMy]+[/.\-][dMy]+[/.\-][dMy]+)")
RATE = re.compile(r"\bat\s+(\d+(?:[.,]\d+)?)\s*Hz", re.I)
FIELD = re.compile(r"^\s*(start time|start date|epoch period \(hh:mm:ss\))\s*:?\s*(\S+)", re.I)
AXES = ("accelerometer x", "accelerometer y", "accelerometer z")
GYRO = ("gyroscope x", "gyroscope y", "gyroscope z")
TOKENS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "M": "%m", "dd": "%d", "d": "%d"}


def strftime_format(date_format: str) -> str:
    """A .NET date format of ActiLife's first line (M/d/yyyy, dd.MM.yyyy, ...) for strptime."""
    return re.sub(r"yyyy|yy|MM|M|dd|d", lambda m: TOKENS[m.group()], date_format)


class Header(NamedTuple):
    rate_hz: float
    date_format: str   # as line 1 gives it (M/d/yyyy ...)
    start: float       # UTC epoch s


def read_header(path: Path, head: list[str], tz: str) -> Header:
    """The rate, date format and start of ActiLife's ten header lines."""
    if not head or not BANNER.search(head[0]):
        raise ImportDataError(f"{path} line 1: not an ActiLife CSV (its first line reads "
                              "'------------ Data File Created By ActiGraph ...')")
    rate = RATE.search(head[0])
    if rate is None:
        raise ImportDataError(f"{path} line 1: no sample rate ('at NN Hz') in the header")
    found = DATE_FORMAT.search(head[0])
    date_format = found.group(1) if found else "M/d/yyyy"
    fields = {}
    for number, line in enumerate(head[1:HEADER_LINES], start=2):
        match = FIELD.match(line)
        if match:
            fields[match.group(1).lower()] = (match.group(2), number)
    missing = [f for f in ("start time", "start date") if f not in fields]
    if missing or len(head) <= HEADER_LINES:
        raise ImportDataError(f"{path}: the ActiLife header lacks "
                              f"{', '.join(missing) or 'the samples after it'} (lines 2-10)")
    epoch, number = fields.get("epoch period (hh:mm:ss)", ("00:00:00", 0))
    if epoch.strip("0:") != "":
        raise ImportDataError(f"{path} line {number}: epoch period {epoch}: activity counts per "
                              "epoch, not raw acceleration (export the RAW csv from ActiLife)")
    (date, date_line), (time, _) = fields["start date"], fields["start time"]
    naive = pd.to_datetime(pd.Series([f"{date} {time}"]), errors="coerce",
                           format=f"{strftime_format(date_format)} %H:%M:%S")
    start = local_seconds(naive, tz).iloc[0]
    if not np.isfinite(start):
        raise ImportDataError(f"{path} line {date_line}: start {date} {time} is not a time in "
                              f"the date format of line 1 (or does not exist in {tz})")
    return Header(float(rate.group(1).replace(",", ".")), date_format, float(start))


def read(path: Path, options: ReadOptions) -> CsvData:
    text = load(path)
    head = text.lines(HEADER_LINES + 1)
    header = read_header(path, head, options.tz)
    names = cells(head[HEADER_LINES])
    named = any(re.fullmatch(r"[a-z][a-z ()]*", c) for c in names)
    rows, line = text.table(HEADER_LINES + named, separator(head[HEADER_LINES]))
    if named:
        if not all(a in names for a in AXES):
            raise ImportDataError(f"{path} line {HEADER_LINES + 1}: column names lack "
                                  f"Accelerometer X, Y or Z (found {', '.join(names)[:100]})")
        axes = [names.index(a) for a in AXES]
        if all(g in names for g in GYRO):   # the IMU of a GT9X, deg/s
            axes += [names.index(g) for g in GYRO]
        stamp = names.index("timestamp") if "timestamp" in names else None
    else:
        stamp = 0 if ":" in rows.iloc[0, 0] else None  # a time of day
        axes = [1, 2, 3] if stamp == 0 else [0, 1, 2]
    if rows.shape[1] <= max(axes):
        raise ImportDataError(f"{path} line {line[0]}: {rows.shape[1]} columns where the "
                              "header has Accelerometer X, Y and Z")
    if stamp is None:
        times = pd.Series(np.full(len(rows), ""), dtype=str)
        t = header.start + np.arange(len(rows)) / header.rate_hz
    else:
        times = rows[stamp].str.strip()
        date_format = strftime_format(header.date_format)
        naive = pd.to_datetime(times, format=f"{date_format} %H:%M:%S.%f", errors="coerce")
        naive = naive.fillna(pd.to_datetime(times, format=f"{date_format} %H:%M:%S",
                                            errors="coerce"))
        t = local_seconds(naive, options.tz).to_numpy(dtype=np.float64, na_value=np.nan)
    return checked_samples(path, t, numbers(rows[axes]), line, times, tz=options.tz,
                           skip_bad=options.skip_bad,
                           time_need=f"{header.date_format} hh:mm:ss.fff, the date format of "
                           "line 1", gravity_hint="ActiLife's raw CSV is in g with gravity")
