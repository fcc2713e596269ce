"""`sitload import`: foreign accelerometer CSV files into a sitload recording; reference labels.

The CSV layout is in docs/metrics.md ("Real labelled recordings"): a header naming ``time,ax,ay,az``
and optionally ``gx,gy,gz`` (any case, spaces around; other columns ignored), comma, semicolon or
tab separated, UTF-8 (BOM or not) or UTF-16 with a BOM; ``time`` is ISO 8601 (naive times are taken
in ``tz``) or epoch seconds / ms / us / ns (told apart by magnitude). Rows are put in time order (a
step back of up to MAX_BACKSTEP_S is tolerated; the last of rows sharing a time is kept). The
samples are put on a uniform grid at the rate detected from the timestamps (mean spacing outside
holes; 10-200 Hz), so irregular sampling is tolerated; a hole longer than ``HOLE_PERIODS`` sample
periods is kept as a gap, never filled in. The result is encoded as protocol frames (as a sensor
would send them), so imported data goes through the one decode path.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import pandas as pd

from sitload.firmware_sim.frame_encoder import FLAG_RESYNC, TICKS_PER_S, encode_imu_frames
from sitload.sensor_ingest.recording import RecordingWriter
from sitload.vocab import SensorKind
from sitload.errors import ConfigError, ImportDataError

G = 9.80665
ACCEL_UNITS = {"g": 1.0, "ms2": 1.0 / G}  # factor to g
GYRO_UNITS = {"dps": 1.0, "rads": 180.0 / np.pi}  # factor to deg/s
ACCEL_AXES, GYRO_AXES = ("ax", "ay", "az"), ("gx", "gy", "gz")
MIN_RATE_HZ, MAX_RATE_HZ = 10.0, 200.0
HOLE_PERIODS = 5.0
MAX_BACKSTEP_S = 1.0  # rows this much out of order are sorted; a larger step back is an error
MAX_REPEATED = 0.1  # more rows than this fraction repeating a time: timestamps too coarse
MAX_HOLE_S = 366 * 86400.0  # a longer hole between two rows is a clock error, not a pause
EPOCH_S_BELOW = 1e11  # epoch numbers above this are ms (then us, ns): 1e11 s is the year 5138
GRAVITY_G = (0.5, 2.0)  # the median acceleration magnitude of a worn sensor is about 1 g
MAX_ACCEL_G = 64.0  # beyond the range of body-worn accelerometers (at most +-16 g; impacts ~50 g)
MAX_GYRO_DPS = 4000.0  # beyond the range of body-worn gyroscopes (at most +-2000 or 4000 deg/s)
PER_FRAME = 10
ACCEL_CODES = ((2.0, 0), (4.0, 1), (8.0, 2), (16.0, 3))
AWARE = r":\d\d(?:[.,]\d*)?\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"  # a time of day with Z or an offset
EPOCH = pd.Timestamp(0, tz="UTC")
TIME_NEED = "ISO 8601 or epoch seconds/ms"
GZIP_MAGIC = b"\x1f\x8b"
log = logging.getLogger("sitload.import")


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    samples_read: int
    rows_skipped: int
    rate_hz: float
    segments: int
    frames: int
    repeated_times: int = 0


class CsvData(NamedTuple):
    t: np.ndarray  # UTC epoch seconds, increasing
    accel: np.ndarray  # g
    gyro: np.ndarray | None  # deg/s
    rows_skipped: int
    repeated_times: int  # rows dropped because a later row has the same time


def _factor(table: dict[str, float], unit: str, option: str) -> float:
    if unit not in table:
        raise ConfigError(f"{option} must be one of {', '.join(table)}, not {unit!r}")
    return table[unit]


def _open_binary(path: Path, compression: str | None) -> BinaryIO:
    return gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")


def read_table(path: Path, need: tuple[str, ...], optional: tuple[str, ...] = ()
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The columns ``need`` and those of ``optional`` present (names matched trimmed, any case) as
    text, and each row's line number; rows with all these cells empty are dropped. UTF-8 (BOM or
    not) or UTF-16 with a BOM, gzip-compressed or not; the separator is whichever of , ; tab the
    header line has most of."""
    wanted = set(need + optional)
    try:
        with open(path, "rb") as f:
            compression = "gzip" if f.read(2) == GZIP_MAGIC else None
        with _open_binary(path, compression) as f:
            start = f.read(4)
        if start == b"PK\x03\x04":
            raise ImportDataError(f"{path}: a zip or Excel file, not CSV text (save it as CSV)")
        if start == b"SQLi":
            raise ImportDataError(f"{path}: an SQLite database (a recording?), not CSV text")
        encoding = "utf-16" if start[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
        with _open_binary(path, compression) as f:
            header = io.TextIOWrapper(f, encoding=encoding, errors="replace").readline()
        sep = max(",;\t", key=header.count)
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False,
                          index_col=False, encoding=encoding, encoding_errors="replace",
                          compression=compression, usecols=lambda c: c.strip().lower() in wanted)
    except (OSError, EOFError, zlib.error, ValueError) as exc:  # pandas' errors are ValueErrors
        raise ImportDataError(f"{path}: cannot read CSV ({str(exc).splitlines()[0]})") from None
    raw.columns = [c.strip().lower() for c in raw.columns]
    missing = [c for c in need if c not in raw.columns]
    if missing or raw.columns.duplicated().any():
        found = ", ".join(c.strip().strip('"').strip() for c in header.split(sep))[:100]
        what = (f"lacks {', '.join(missing)}" if missing else
                f"has {raw.columns[raw.columns.duplicated()][0]} twice")
        raise ImportDataError(f"{path} line 1: header {what} (need {','.join(need)}; "
                              f"found {found})")
    used = ~(raw == "").all(axis=1).to_numpy()
    if not used.any():
        raise ImportDataError(f"{path}: no rows after the header")
    return raw[used], np.flatnonzero(used) + 2


def parse_times(column: pd.Series, tz: str) -> np.ndarray:
    """UTC epoch seconds, NaN where a value does not parse: ISO 8601 (``T`` or space, fractional
    seconds with . or ,, ``Z`` or an offset; naive times in ``tz``, a local hour repeated at a
    clock change told apart by order) or epoch s / ms / us / ns."""
    text = column.str.strip().str.replace(",", ".", regex=False)
    numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isfinite(numeric).mean() > 0.5:
        median = np.nanmedian(np.abs(numeric))
        return numeric / next((u for u in (1.0, 1e3, 1e6) if median < EPOCH_S_BELOW * u), 1e9)
    aware = text.str.contains(AWARE, na=False).to_numpy(dtype=bool)
    utc = pd.to_datetime(text.where(aware), format="ISO8601", utc=True, errors="coerce")
    naive = pd.to_datetime(text.mask(aware), format="ISO8601", errors="coerce").dropna()
    seconds = (utc - EPOCH).dt.total_seconds().fillna(local_seconds(naive, tz))
    return seconds.to_numpy(dtype=np.float64, na_value=np.nan)


def local_seconds(naive: pd.Series, tz: str) -> pd.Series:
    """UTC epoch seconds of wall-clock times in ``tz`` (an hour a clock change repeats told apart
    by order; NaN for a time that does not exist there or stays ambiguous)."""
    try:
        local = naive.dt.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except ValueError:  # an ambiguous time that order does not resolve
        local = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return (local - EPOCH).dt.total_seconds()


def _bad_time(path: Path, line: int, value: str, tz: str, need: str) -> ImportDataError:
    local = f"; naive times must be valid {tz} times" if tz != "UTC" else ""
    return ImportDataError(f"{path} line {line}: bad time {value!r} (need {need}{local})")


def time_order(t: np.ndarray, line: np.ndarray, path: Path) -> np.ndarray:
    """Indices putting rows in time order, keeping the last of rows with the same time. Raises when
    time steps back more than MAX_BACKSTEP_S (a clock reset or files joined: sorting would
    interleave them)."""
    latest = np.maximum.accumulate(t)
    back = np.flatnonzero(t[1:] < latest[:-1] - MAX_BACKSTEP_S) + 1
    if back.size:
        i = back[0]
        raise ImportDataError(f"{path} line {line[i]}: time steps back "
                              f"{latest[i - 1] - t[i]:.6g} s (clock reset or files joined?)")
    order = np.argsort(t, kind="stable")
    return order[np.r_[np.diff(t[order]) > 0, True]]


def read_csv(path: str | Path, *, units: str = "g", gyro_units: str = "dps", tz: str = "UTC",
             skip_bad: bool = False) -> CsvData:
    """Samples of an accelerometer CSV: accel in ``units`` (g or ms2), gyro in ``gyro_units``
    (dps or rads) converted to g and deg/s. Raises ImportDataError naming the file and line."""
    path = Path(path)
    accel_factor = _factor(ACCEL_UNITS, units, "units")
    gyro_factor = _factor(GYRO_UNITS, gyro_units, "gyro units")
    raw, line = read_table(path, ("time", *ACCEL_AXES), GYRO_AXES)
    axes = [*ACCEL_AXES, *(GYRO_AXES if all(c in raw.columns for c in GYRO_AXES) else ())]
    return checked_samples(path, parse_times(raw["time"], tz), numbers(raw[axes]), line,
                           raw["time"], tz=tz, skip_bad=skip_bad, accel_factor=accel_factor,
                           gyro_factor=gyro_factor)


def numbers(cells: pd.DataFrame) -> np.ndarray:
    """Text cells as floats (a decimal comma reads as a point), NaN where one does not parse."""
    values = cells.apply(lambda c: pd.to_numeric(c.str.strip().str.replace(",", ".", regex=False),
                                                 errors="coerce"))
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def checked_samples(path: Path, t: np.ndarray, values: np.ndarray, line: np.ndarray,
                    times: pd.Series, *, tz: str = "UTC", skip_bad: bool = False,
                    accel_factor: float = 1.0, gyro_factor: float = 1.0,
                    time_need: str = TIME_NEED,
                    gravity_hint: str = "wrong --units, or gravity removed?") -> CsvData:
    """Samples of any reader, checked as read_csv checks them: ``t`` UTC epoch seconds (NaN where
    ``times``, the rows' time text, did not parse as ``time_need``), ``values`` accel (and gyro)
    columns times ``accel_factor`` / ``gyro_factor`` give g and deg/s, ``line`` each row's line.
    Bad rows are an error naming the line (or skipped with ``skip_bad``); rows are put in time
    order; a median magnitude far from 1 g is refused with ``gravity_hint``."""
    axes = [*ACCEL_AXES, *GYRO_AXES][:values.shape[1]]
    limits = np.array([MAX_ACCEL_G / accel_factor] * 3 + [MAX_GYRO_DPS / gyro_factor] * 3)
    plausible = np.abs(values) <= limits[:len(axes)]     # False for nan and inf too
    bad_time = ~np.isfinite(t)
    bad = bad_time | ~plausible.all(axis=1)
    if bad.any() and not skip_bad:
        row = int(np.flatnonzero(bad)[0])
        if bad_time[row]:
            raise _bad_time(path, line[row], times.iloc[row], tz, time_need)
        cols = ", ".join(_implausible(a, v, accel_factor, gyro_factor) if np.isfinite(v) else a
                         for a, v, ok in zip(axes, values[row], plausible[row]) if not ok)
        raise ImportDataError(f"{path} line {line[row]}: bad value in {cols} "
                              "(use --skip-bad to skip such rows)")
    t, values, line = t[~bad], values[~bad], line[~bad]
    if t.size < 2:
        raise ImportDataError(f"{path}: fewer than 2 valid samples")
    keep = time_order(t, line, path)
    repeated = t.size - keep.size
    if repeated > MAX_REPEATED * t.size:
        first = line[np.setdiff1d(np.arange(t.size), keep)[0]]
        raise ImportDataError(f"{path} line {first}: {repeated} of {t.size} rows repeat the time "
                              "of another row (timestamps coarser than the sample period?)")
    t, values, line = t[keep], values[keep], line[keep]
    holes = np.flatnonzero(np.diff(t) > MAX_HOLE_S)
    if holes.size:
        i = holes[0] + 1
        raise ImportDataError(f"{path} line {line[i]}: time jumps {(t[i] - t[i - 1]) / 86400:.6g} "
                              f"days ahead (more than {MAX_HOLE_S / 86400:g}: a clock that was not "
                              f"set? leave out the rows before or after it)")
    accel = values[:, :3] * accel_factor
    gravity = float(np.median(np.linalg.norm(accel, axis=1)))
    if not GRAVITY_G[0] < gravity < GRAVITY_G[1]:
        raise ImportDataError(f"{path}: median acceleration is {gravity:.3g} g where gravity gives "
                              f"1 g ({gravity_hint})")
    gyro = values[:, 3:] * gyro_factor if len(axes) == 6 else None
    return CsvData(t, accel, gyro, int(bad.sum()), repeated)


def _implausible(axis: str, value: float, accel_factor: float, gyro_factor: float) -> str:
    """``axis`` and its value where it is beyond what a body-worn sensor reads."""
    factor, limit, unit = ((accel_factor, MAX_ACCEL_G, "g") if axis in ACCEL_AXES
                           else (gyro_factor, MAX_GYRO_DPS, "deg/s"))
    return f"{axis} ({value * factor:.3g} {unit}, beyond the +-{limit:g} {unit} of a body-worn sensor)"


def detect_rate(t: np.ndarray, path: Path) -> float:
    """Samples per second over the stretches without holes (robust to jitter), to 0.1 Hz."""
    diffs = np.diff(t)
    regular = diffs < HOLE_PERIODS * np.median(diffs)
    rate = regular.sum() / diffs[regular].sum()
    if not MIN_RATE_HZ * 0.95 <= rate <= MAX_RATE_HZ * 1.05:
        raise ImportDataError(f"{path}: sample rate {rate:.1f} Hz is outside "
                              f"{MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz")
    return round(rate * 10) / 10


def _segments(t: np.ndarray, rate: float) -> list[tuple[int, int]]:
    holes = np.flatnonzero(np.diff(t) > HOLE_PERIODS / rate) + 1
    bounds = [0, *holes.tolist(), t.size]
    return [(a, b) for a, b in pairwise(bounds) if b - a >= 2]


def import_csv(source: str | Path, output: str | Path, *, sensor: str = "thigh-imu",
               units: str = "g", gyro_units: str = "dps", tz: str = "UTC",
               skip_bad: bool = False, reader: Callable[[Path], CsvData] | None = None
               ) -> ImportSummary:
    """Import an accelerometer CSV (see read_csv), or the file another ``reader`` reads (the
    readers of sitload.services.formats), into a new recording at ``output``."""
    source = Path(source)
    kind = SensorKind.from_cli(sensor)
    if kind == SensorKind.PRESSURE:
        raise ImportDataError("CSV import reads IMU data; --sensor must be thigh-imu or hip-imu")
    data = (reader(source) if reader else
            read_csv(source, units=units, gyro_units=gyro_units, tz=tz, skip_bad=skip_bad))
    t, accel, gyro = data.t, data.accel, data.gyro
    rate = detect_rate(t, source)
    full_scale = float(np.abs(accel).max())
    accel_range_g, accel_code = next((g, c) for g, c in ACCEL_CODES if full_scale < g * 0.999
                                     or g == 16.0)
    frames: list[bytes] = []
    host_times: list[float] = []
    segments = _segments(t, rate)
    for a, b in segments:
        grid = t[a] + np.arange(int((t[b - 1] - t[a]) * rate + 1e-6) + 1) / rate
        acc = np.column_stack([np.interp(grid, t[a:b], accel[a:b, i]) for i in range(3)])
        gyr = (np.column_stack([np.interp(grid, t[a:b], gyro[a:b, i]) for i in range(3)])
               if gyro is not None else None)
        starts = np.arange(0, grid.size, PER_FRAME)
        stops = np.minimum(starts + PER_FRAME, grid.size)
        for group in (stops - starts == PER_FRAME, stops - starts < PER_FRAME):  # full, then short
            if group.any():
                first = starts[group]
                rows = first[:, None] + np.arange(stops[group][0] - first[0])
                frames += encode_imu_frames(
                    int(kind), len(host_times) + np.flatnonzero(group),
                    np.rint((grid[first] - t[0]) * TICKS_PER_S).astype(np.int64),
                    np.where(first == 0, FLAG_RESYNC, 0), acc[rows],
                    None if gyr is None else gyr[rows], round(rate * 10),
                    accel_range=accel_code)
        host_times += (grid[stops - 1] + 1.0 / rate).tolist()
    meta = {"source": "import", "imported_from": source.name, "timezone": tz,
            "sensor": sensor, "accel_range_g": str(accel_range_g)}
    with RecordingWriter(output, meta=meta) as rec:
        device = rec.add_device(f"import:{source.name}", kind, name=source.stem)
        rec.add_frames(device, frames, host_times)
    return ImportSummary(Path(output), int(t.size), data.rows_skipped, rate, len(segments),
                         len(frames), data.repeated_times)


SITTING_LABELS = frozenset({"sitting", "sit", "seated", "sedentary sitting", "true"})
UNLABELLED = frozenset({"", "unknown", "unlabelled", "unlabeled", "na", "n/a", "nan", "null",
                        "none"})
TRANSITION = r"\bto\b|\btransition"  # 'stand_to_sit', 'sit-to-stand', 'postural transition'


class ReferenceLabels(NamedTuple):
    """Scored seconds of a reference labelling and the labelled seconds left out."""

    seconds: pd.DataFrame  # ``sec`` (UTC epoch second) and ``sitting`` (bool)
    skipped_unlabelled: int  # seconds labelled unlabelled or as a postural transition
    skipped_straddling: int  # seconds that straddle a change of label


def read_labels(path: str | Path, *, tz: str = "UTC") -> ReferenceLabels:
    """Per-second reference labels from a CSV with ``time`` and ``label`` (or ``posture``) columns
    (same reading rules as read_csv). Labels are compared trimmed, in lower case, with runs of
    spaces, ``_`` and ``-`` as one space: SITTING_LABELS or the number 1 is sitting, UNLABELLED and
    postural transitions (TRANSITION) are not scored, other numbers than 0 and 1 are an error,
    anything else is not sitting. A label holds from its row until the next row; in a file of rows
    at most 1 s apart (median) for at most 1 s, and the last row for 1 s. Only seconds wholly
    inside one label are scored."""
    path = Path(path)
    raw, line = read_table(path, ("time",), ("label", "posture"))
    column = next((c for c in ("label", "posture") if c in raw.columns), None)
    if column is None:
        raise ImportDataError(f"{path} line 1: need columns time and label (or posture)")
    t = parse_times(raw["time"], tz)
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise _bad_time(path, line[bad[0]], raw["time"].iloc[bad[0]], tz, TIME_NEED)
    key = raw[column].str.strip().str.lower().str.replace(r"[\s_-]+", " ", regex=True)
    number = pd.to_numeric(key, errors="coerce")
    odd = np.flatnonzero((number.notna() & ~number.isin([0, 1])).to_numpy())
    if odd.size:
        raise ImportDataError(f"{path} line {line[odd[0]]}: label {raw[column].iloc[odd[0]]!r} is "
                              "a number other than 0 or 1 (1 = sitting); write activity codes as "
                              "names")
    transition = key.str.contains(TRANSITION).to_numpy()
    sitting = (key.isin(SITTING_LABELS) | (number == 1)).to_numpy()
    doubtful = sorted(set(key[~sitting & ~transition & key.str.contains(r"\bsit|seat")]))
    if doubtful:
        log.warning("%s: labels %s count as not sitting", path, ", ".join(map(repr, doubtful)))
    order = time_order(t, line, path)
    t, key = t[order], key.to_numpy()[order]
    scored = ~(np.isin(key, list(UNLABELLED)) | transition[order])
    code = np.where(scored, np.where(sitting[order], 1, 0), -1)  # -1: labelled, not scored
    end = np.r_[t[1:], t[-1] + 1.0]
    if t.size > 1 and np.median(np.diff(t)) <= 1.0:
        end = np.minimum(end, t + 1.0)
    return whole_seconds(t, end, key, code)


def whole_seconds(start: np.ndarray, end: np.ndarray, label: np.ndarray, code: np.ndarray
                   ) -> ReferenceLabels:
    """Seconds wholly inside one run of intervals [start, end) of the same ``label`` (adjacent
    intervals of one label are joined first); those of ``code`` 0 / 1 are scored."""
    joined = np.r_[False, (label[1:] == label[:-1]) & (start[1:] <= end[:-1])]
    runs = np.flatnonzero(~joined)
    run_start, run_code = start[runs], code[runs]
    run_end = np.maximum.reduceat(end, runs)
    first = np.ceil(run_start).astype(np.int64)
    stop = np.floor(run_end).astype(np.int64)          # exclusive
    held = np.maximum(stop - first, 0)
    lo, hi = np.floor(run_start).astype(np.int64), np.ceil(run_end).astype(np.int64)
    shared = np.maximum(hi[:-1] - lo[1:], 0)            # a second two runs both touch
    touched = int((hi - lo).sum() - shared.sum())
    keep = run_code >= 0
    within = np.arange(held[keep].sum()) - np.repeat(np.cumsum(held[keep]) - held[keep],
                                                     held[keep])
    sec = np.repeat(first[keep], held[keep]) + within
    unscored = int(held[~keep].sum())
    seconds = pd.DataFrame({"sec": sec, "sitting": np.repeat(run_code[keep] == 1, held[keep])})
    return ReferenceLabels(seconds, unscored, touched - sec.size - unscored)
