"""Sensor Logger (Android and iOS app) CSV and zip exports (docs/import-formats.md).

Each sensor is a CSV of ``time`` (ns since the epoch, UTC), ``seconds_elapsed`` and ``z,y,x``
in m/s^2. ``TotalAcceleration.csv`` (Android) includes gravity; ``Accelerometer.csv`` is
acceleration without gravity (refused on its own: posture needs gravity); ``Gravity.csv`` is
gravity alone. From a zip the total acceleration is taken, or else (iOS) Accelerometer plus
Gravity; Gravity alone, which lacks the movement walking shows, comes last."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pandas as pd

from sitload.errors import ImportDataError
from sitload.services.formats.options import ReadOptions
from sitload.services.formats.text import Text, is_zip, load, load_member, separator, \
    zip_members
from sitload.services.importers import G, CsvData, checked_samples, numbers, parse_times

TOTAL, GRAVITY, USER = "totalacceleration.csv", "gravity.csv", "accelerometer.csv"
AXES = ("x", "y", "z")
WITHOUT_GRAVITY = "Sensor Logger's Accelerometer.csv is acceleration without gravity"
log = logging.getLogger("sitload.import")


class Samples(NamedTuple):
    """One sensor's CSV: times (UTC epoch s), x y z in m/s^2, line numbers, time text."""

    where: Path
    t: np.ndarray
    values: np.ndarray
    line: np.ndarray
    times: pd.Series


def _samples(text: Text, options: ReadOptions) -> Samples:
    names = text.names()
    missing = [c for c in ("time", *AXES) if c not in names]
    if missing:
        raise ImportDataError(f"{text.where} line 1: header lacks {', '.join(missing)} (a Sensor "
                              "Logger CSV has time, seconds_elapsed, z, y, x)")
    rows, line = text.table(1, separator(text.lines(1)[0]))
    times = rows[names.index("time")]
    return Samples(text.where, parse_times(times, options.tz),
                   numbers(rows[[names.index(a) for a in AXES]]), line, times)


def _with_movement(gravity: Samples, user: Samples) -> Samples:
    """Gravity plus the acceleration without it (interpolated to gravity's times)."""
    ok = np.isfinite(user.t) & np.isfinite(user.values).all(axis=1)
    if ok.sum() < 2:
        raise ImportDataError(f"{user.where}: fewer than 2 valid samples")
    order = np.argsort(user.t[ok], kind="stable")
    t, values = user.t[ok][order], user.values[ok][order]
    moved = np.column_stack([np.interp(gravity.t, t, values[:, i]) for i in range(3)])
    return gravity._replace(values=gravity.values + moved)


def _checked(samples: Samples, options: ReadOptions) -> CsvData:
    return checked_samples(samples.where, samples.t, samples.values, samples.line, samples.times,
                           tz=options.tz, skip_bad=options.skip_bad, accel_factor=1 / G,
                           gravity_hint=f"{WITHOUT_GRAVITY}; use TotalAcceleration.csv or the "
                           "zip export")


def _gravity_alone(where: Path) -> None:
    log.warning("%s: gravity alone, without the movement the analysis calibrates on when the "
                "wearer walks; the zip export with Accelerometer.csv is better", where)


def read(path: Path, options: ReadOptions) -> CsvData:
    if not is_zip(path):
        name = path.name.lower().removesuffix(".gz")
        if name == USER:
            raise ImportDataError(f"{path}: {WITHOUT_GRAVITY} (posture needs gravity): import "
                                  "TotalAcceleration.csv, or the zip export (which adds Gravity)")
        if name == GRAVITY:
            _gravity_alone(path)
        return _checked(_samples(load(path), options), options)
    members = {PurePosixPath(k).name: v for k, v in zip_members(path).items()}

    def member(name: str) -> Samples:
        return _samples(load_member(path, members[name]), options)

    if TOTAL in members:
        return _checked(member(TOTAL), options)
    if GRAVITY in members and USER in members:
        return _checked(_with_movement(member(GRAVITY), member(USER)), options)
    if GRAVITY in members:
        _gravity_alone(path)
        return _checked(member(GRAVITY), options)
    raise ImportDataError(f"{path}: no TotalAcceleration.csv or Gravity.csv in the zip "
                          f"({WITHOUT_GRAVITY}, and posture needs gravity)")
